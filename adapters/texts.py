"""What every platform says to participants outside the interview itself."""

BUSY = (
    "You're in the middle of another interview with me. Let's finish that one "
    "first (or write “stop” to leave it); then press Start again."
)
STRANGER = (
    "Hi! I'm Perspective, the support team's research assistant. I interview "
    "people who take part in a study, and you're not part of one right now, so "
    "there is nothing for you to do."
)
OPEN_STUDIES = " These studies are open to anyone, if you'd like to take part:"
ALREADY_COMPLETED = "You've already completed this interview. Thank you!"
STUDY_CLOSED = "This study has closed, so there is nothing to do. Thank you!"
IN_PROGRESS = "You have an interview in progress. Here is where we left off:"
INVITATION_ONLY = (
    "This study is by invitation only, and you're not on its list. If you think "
    "you should be, contact the team that runs it."
)
OPTED_OUT_BEFORE = (
    "You opted out earlier, so I won't send you anything. If you'd like to take "
    "part after all, ask the team that runs the study."
)
COMPLETED_BEFORE = (
    "Thank you again for your interview! There is nothing more to do. If "
    "something else comes to mind, tell the team that runs the study."
)
