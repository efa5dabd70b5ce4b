"""Participant words that always work: stop, pause, resume, skip, finish.

Detection is rule-based so that it works the same with every provider and
cannot be talked out of by a model. Control words count only in short
messages: "stop" is an opt-out, while "they told me to stop calling them
and wait" is an answer. The phrases cover English, Spanish, French, German
and Portuguese; accents are ignored when matching ("arrete" matches
"arrête"), because people type them inconsistently in chat.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

from interview_engine.text import normalise_space, words


class Intent(StrEnum):
    STOP = "stop"  # opt out: nothing more is sent
    FINISH = "finish"  # end the interview now, keeping the answers
    PAUSE = "pause"
    RESUME = "resume"
    SKIP = "skip"


# A control phrase is only read as such in a message of at most this many words.
MAX_CONTROL_WORDS = 12

# Trailing words that do not change a bare command ("stop please", "skip it").
_POLITE = (
    r"( (please|now|thanks|thank you|for now|it|this|that|one|por favor|bitte|"
    r"s il vous plait|s il te plait|merci|danke|gracias|obrigado|obrigada|🛑))*$"
)


def _pattern(*alternatives: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{a})" for a in alternatives))


_PATTERNS: dict[Intent, re.Pattern[str]] = {
    Intent.STOP: _pattern(
        r"^(please )?(stop|quit|cancel|unsubscribe|opt ?out|exit|withdraw|"
        r"para|parar|basta|detente|alto|arrete[rz]?|stopp|aufhoren|abbrechen|"
        r"pare|chega)" + _POLITE,
        r"\b(stop|quit) (messaging|contacting|texting|writing to|asking) me\b",
        r"\bi (want|would like|d like|wish) to (stop|quit|opt out|withdraw|leave)\b",
        r"\b(leave me alone|remove me|take me off|no more messages|unsubscribe me)\b",
        r"\b(don t|do not) (message|contact|text|write to|bother) me\b",
        r"\bi (don t|do not) want to (do this|participate|take part|continue)\b",
        r"\bdelete my (answers|data|responses)\b",
        # Spanish
        r"\bno me (escribas|escriba|escriban|contactes|contacte|molestes)\b",
        r"\b(deja|dejen|deje) de (escribirme|contactarme|molestarme)\b",
        r"\bdejame en paz\b",
        r"\b(no quiero|ya no quiero) (participar|continuar|seguir|mas)\b",
        # French
        r"\bne m (ecrivez|ecris|ecrivez) plus\b",
        r"\b(arretez|arrete) de m (ecrire|envoyer)\b",
        r"\bje ne veux (plus|pas) (participer|continuer)\b",
        r"\blaissez moi tranquille\b",
        # German
        r"\bhor (bitte )?auf\b",
        r"\b(bitte )?(nicht mehr|keine nachrichten mehr) (schreiben|senden)\b",
        r"\bschreib(en sie)? mir nicht mehr\b",
        r"\bich (mochte|will) nicht (mehr )?(teilnehmen|weitermachen)\b",
        # Portuguese
        r"\bpar[ea] de me (mandar|enviar|escrever)\b",
        r"\bnao me (escreva|mande|envie)\b",
        r"\bnao quero (mais )?(participar|continuar)\b",
        r"^🛑+$",
    ),
    Intent.FINISH: _pattern(
        r"^(i m done|im done|i am done|that s all|thats all|no more questions|"
        r"let s (end|finish|wrap up)|can we (end|finish|wrap up)( here| now)?|"
        r"end( the interview| here)?|finish( the interview)?|wrap up)" + _POLITE,
    ),
    Intent.PAUSE: _pattern(
        r"^(please )?(pause|brb|later|not now|hold on|one sec(ond)?|gotta go|"
        r"pausa|mas tarde|luego|despues|plus tard|spater|mais tarde|depois)" + _POLITE,
        r"\b(pause (this|the interview|it)|continue later|talk later|"
        r"finish (this )?later|do this later|come back later|another time|"
        r"continue tomorrow|do this tomorrow)\b",
        r"\bi (have|need|got) to (go|run|leave)\b|\bbusy right now\b",
        r"\bgive me (a|one|\d+) (sec|second|minute|minutes|moment)\b",
        # Spanish, French, German, Portuguese
        r"\b(seguimos|continuamos|seguir|continuar|sigamos) (mas tarde|manana|luego|"
        r"despues)\b",
        r"\b(luego|manana) (seguimos|continuamos)\b",
        r"\b(continuer|reprendre) (plus tard|demain)\b",
        r"\bspater (weitermachen|fortsetzen)\b|\bmorgen weiter\b",
        r"\b(continuar|seguir) (depois|mais tarde|amanha)\b",
        r"^⏸️?$",
    ),
    Intent.RESUME: _pattern(
        r"^(ok |okay |yes |sure )?(resume|continue|go on|go ahead|i m back|im back|"
        r"back|ready|let s (go|continue|keep going)|carry on|unpause|seguir|"
        r"continuar|sigamos|reprendre|continuer|weiter|fortsetzen)" + _POLITE,
    ),
    Intent.SKIP: _pattern(
        r"^(please )?(skip|pass|next|saltar|paso|siguiente|passer|suivante|"
        r"uberspringen|weiter zur nachsten|pular|proxima)( (question|this question|"
        r"pregunta|frage|pergunta))?" + _POLITE,
        r"\bnext question\b|\bskip (this|that|it|the question)\b",
        r"\b(rather not|prefer not to) (answer|say|talk about)\b|\bno comment\b",
        r"\bi d rather not\b|\bi m not comfortable answering\b",
        r"\b(siguiente pregunta|prefiero no (responder|contestar))\b",
        r"\b(question suivante|je prefere ne pas repondre)\b",
        r"\b(nachste frage|lieber nicht)\b",
        r"\b(proxima pergunta|prefiro nao responder)\b",
    ),
}

_YES = re.compile(
    r"^(yes|yeah|yep|yup|sure|ok|okay|correct|right|exactly|absolutely|of course|"
    r"that s right|that s correct|sounds right|spot on|fine|go ahead|"
    r"si|claro|oui|bien sur|ja|genau|sim|👍|✅)\b"
)
_NO = re.compile(
    r"^(no(?! problem| worries)|nope|nah|not really|not quite|don t|do not|"
    r"rather not|never|non|nein|nao|👎|❌)\b"
)
_ASKS_IF_BOT = re.compile(
    r"\b(are|r) (you|u) (a |an )?(bot|robot|ai|human|real person|real|a person)\b"
    r"|\bam i (talking|speaking|chatting) (to|with) (a |an )?"
    r"(bot|robot|ai|human|person)\b"
    r"|\b(eres|es usted) (un )?(bot|robot|humano|ia)\b|\b(es tu|tu es|vous etes) "
    r"(un )?(bot|robot|humain|ia)\b|\bbist du (ein )?(bot|roboter|mensch)\b"
    r"|\bvoce e (um )?(bot|robo|humano)\b"
)


def _plain(text: str) -> str:
    """Lower-case, fold accents, and keep only letters, digits and a few emoji."""
    lowered = text.lower().replace("’", "'").replace("ß", "ss")
    folded = unicodedata.normalize("NFKD", lowered)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    folded = folded.replace("'", " ")
    folded = re.sub(r"[^\w\s👍👎✅❌🛑⏸️]", " ", folded)
    return normalise_space(folded)


def detect_intent(text: str) -> Intent | None:
    """Return the control intent of a participant message, if it has one."""
    if len(words(text)) > MAX_CONTROL_WORDS:
        return None
    plain = _plain(text)
    for intent in (
        Intent.STOP,
        Intent.SKIP,
        Intent.FINISH,
        Intent.PAUSE,
        Intent.RESUME,
    ):
        if _PATTERNS[intent].search(plain):
            return intent
    return None


def asks_to_resume(text: str) -> bool:
    """Tell whether a short message while paused asks to go on ("ok let's continue")."""
    if len(words(text)) > 8:
        return False
    plain = _plain(text)
    return bool(
        _PATTERNS[Intent.RESUME].search(plain)
        or re.search(
            r"\b(continue|resume|go on|carry on|i m back|im back|ready|let s go|"
            r"seguir|continuar|reprendre|continuer|weiter|fortsetzen|hi|hello|hey|"
            r"hola|bonjour|hallo|ola)\b",
            plain,
        )
    )


def asks_if_bot(text: str) -> bool:
    """Tell whether a short message asks whether the interviewer is a bot."""
    return len(words(text)) <= 15 and bool(_ASKS_IF_BOT.search(_plain(text)))


def yes_or_no(text: str) -> bool | None:
    """Read a yes or no from a short reply; None when it is neither."""
    plain = _plain(text)
    if _NO.search(plain):
        return False
    if _YES.search(plain):
        return True
    return None
