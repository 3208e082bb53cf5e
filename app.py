"""cnn-demo: navigation and the shared sidebar. Everything else lives in app_pages/ and cnn_demo/."""

import streamlit as st

from cnn_demo.ui.catalog import FAVICON, HOME, PAGES, SECTIONS
from cnn_demo.ui.common import sidebar
from cnn_demo.ui.signin import signin_notice
from cnn_demo.ui.uploads import upload_notice_slot

st.set_page_config(page_title="cnn-demo", page_icon=FAVICON, layout="wide")

navigation = {
    section: [
        st.Page(p.path, title=p.title, icon=p.icon, url_path="start" if p is HOME else p.url_path, default=p is HOME)
        for p in PAGES
        if p.section == section
    ]
    for section in ("", *SECTIONS)
}
# The default page lives at "/" (its own pathname, "start", is reserved by Streamlit but never linked), so
# "/home" (a bookmark, a link written by hand) would be "page not found": a hidden second entry serves it.
navigation[""].append(st.Page(HOME.path, title=HOME.title, icon=HOME.icon, url_path="home", visibility="hidden"))
page = st.navigation({name: pages for name, pages in navigation.items() if pages}, expanded=True)
sidebar()
upload_notice_slot()  # at the top: an uploaded file the server no longer holds is named there
signin_notice()  # a sign-in that failed, said on the page the student came back to
page.run()
