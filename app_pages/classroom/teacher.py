"""The teacher's page: every student's jobs, a student's reference, storage, limits and the class reset."""

import streamlit as st

from cnn_demo.ui.classroom import teacher_view
from cnn_demo.ui.teacher import is_teacher, leave_teacher_mode, teacher_gate

st.title("Teacher")
if teacher_gate():
    st.caption(
        "Every job on this server, whoever started it. Students see only their own; they may give a name under any "
        "job panel, which shows here."
    )
    teacher_view()
    if is_teacher() and st.button("Leave the teacher's view", key="teacher_leave", icon=":material/logout:"):
        leave_teacher_mode()
        st.rerun()
