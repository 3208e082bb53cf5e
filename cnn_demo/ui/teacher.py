"""The teacher role: :func:`is_teacher` for any page, and the prompt that grants it on the Teacher page.

Someone is the teacher when

1. they are signed in (``st.login``, or an authenticating proxy's user header, believed only from
   ``CNN_DEMO_TRUSTED_PROXIES``) as a user listed in ``CNN_DEMO_TEACHERS`` (a verified e-mail address, an OpenID
   subject, or the proxy's user name); or
2. they entered the teacher password (:mod:`cnn_demo.jobs.teachers`) in this session: the mark is a
   :class:`TeacherSession` object in ``st.session_state``, which lives on the server only. No cookie, header, URL
   or widget value a student can send makes one (a widget sends text, numbers or lists, never this object), and it
   holds only for the identity that entered the password, for :data:`SESSION_HOURS`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import streamlit as st

from cnn_demo.errors import InputError
from cnn_demo.jobs import client_key, teachers
from cnn_demo.settings import get_settings
from cnn_demo.ui.identity import auth_configured, client_address, current_identity, request_facts

#: The session-state key of the password mark (no widget has this key).
TEACHER_KEY = "_cnn_demo_teacher_session"
#: How long an entered teacher password holds in one session.
SESSION_HOURS = 12.0


@dataclass(frozen=True)
class TeacherSession:
    """The mark of a session whose user entered the teacher password: who (the identity's owner id) and when."""

    owner: str
    since: float


def signed_in_names() -> list[str]:
    """The names ``CNN_DEMO_TEACHERS`` may list for the signed-in user: the OpenID subject and the e-mail address
    (unless the provider says it is unverified), or the user name a trusted proxy sent; ``[]`` when not signed in."""
    try:
        if st.user.get("is_logged_in"):
            names = [str(st.user.get("sub") or "")]
            if st.user.get("email") and st.user.get("email_verified") is not False:
                names.append(str(st.user.get("email")))
            return [n for n in names if n]
    except Exception:
        pass
    facts = request_facts()  # signed by this server's middleware: a client cannot send its own
    return [facts.user] if facts and facts.user else []


def _password_session() -> bool:
    mark = st.session_state.get(TEACHER_KEY)
    if not isinstance(mark, TeacherSession):
        return False
    if time.time() - mark.since > SESSION_HOURS * 3600 or mark.owner != current_identity().owner:
        del st.session_state[TEACHER_KEY]
        return False
    return True


def is_teacher() -> bool:
    """Whether the person using this session is the teacher (see the module docstring for who is)."""
    names = signed_in_names()
    if names and teachers.listed_teacher(get_settings(), names):
        return True
    return _password_session()


def leave_teacher_mode() -> None:
    """End this session's teacher password mark (signing out of a listed account ends that role)."""
    st.session_state.pop(TEACHER_KEY, None)


#: Session-state key of the last password check's message (a string; never the mark).
_PASSWORD_ERROR = "_cnn_demo_teacher_password_error"


def _check_password() -> None:
    """The form's submit callback: check the password typed, then empty the box (a wrong one does not stay in it
    to be corrected character by character, nor in the session). Runs before the page, so it may set the box."""
    password = str(st.session_state.get("teacher_password") or "")
    st.session_state["teacher_password"] = ""
    who = current_identity()
    try:
        ok = teachers.check_password(get_settings(), password, who.owner, client_key(client_address()))
    except InputError as exc:
        st.session_state[_PASSWORD_ERROR] = str(exc)
        return
    if not ok:
        st.session_state[_PASSWORD_ERROR] = "That is not the teacher password."
        return
    st.session_state[TEACHER_KEY] = TeacherSession(who.owner, time.time())


def _password_form() -> None:
    with st.form("teacher_unlock"):
        st.text_input("Teacher password", type="password", max_chars=200, key="teacher_password")
        st.form_submit_button("Open the teacher's view", icon=":material/lock_open:", on_click=_check_password)
    error = st.session_state.pop(_PASSWORD_ERROR, None)
    if isinstance(error, str):
        st.error(error, icon=":material/lock:")


def teacher_gate() -> bool:
    """``True`` for the teacher; for anyone else the way in (sign in as a listed teacher, or the password) and
    ``False``: nothing of the class is shown to them."""
    if is_teacher():
        return True
    s = get_settings()
    signed_in = bool(signed_in_names())
    st.info(
        "This page is for the class's teacher: every student's jobs, the storage in use and the class reset.",
        icon=":material/school:",
    )
    if s.teachers and signed_in:
        st.warning("You are signed in, but not as one of this class's teachers.", icon=":material/lock:")
    elif s.teachers and auth_configured():
        st.caption("Teachers sign in with their school account (Sign in, under any job on the training pages).")
    if teachers.stored_hash(s):
        _password_form()
    elif not s.teachers:
        st.warning(
            "No teacher is set up on this server yet: the person who runs it can name the teachers or set a teacher "
            "password.",
            icon=":material/lock:",
        )
    return False
