"""The answer style a message asks for ("concise", "formal", "at most 50 words")."""

from __future__ import annotations

from agent.words.text import rx

_STYLES: list[tuple[str, str]] = [
    (r"\bconcise\b|\bbrief(?:ly)?\b|\bshort(?:er)?\s+(?:answers?|replies|responses)|\bsuccinct"
     r"|\b(?:answers?|replies|responses)\s+(?:should|must|need\s+to|have\s+to)?\s*(?:be\s+)?(?:short|brief|concise)"
     r"|\bkeep\s+(?:it|them|the\s+answers?|answers?|replies)\s+short|\bto\s+the\s+point"
     r"|简短|简洁|简明|精简|简练|言简意赅|别太长|不要太长|不要啰嗦|别啰嗦|短一点|简单明了", "concise"),
    (r"\bdetailed\b|\bin\s+detail\b|\bthorough|详细|详尽|具体一点", "detailed"),
    (r"(?:code|代码)[^.,;!?\n。，；]{0,30}markdown|markdown[^.,;!?\n。，；]{0,20}(?:code|代码)", "always give code in Markdown"),
    (r"\bmarkdown\b(?!\s*(?:files?|docs?|documents?|文件|文档))", "use Markdown"),
    (r"\bformal(?:ly)?\b|正式(?!上线|发布|环境|版|训练)|书面语", "formal"),
    (r"\bprofessional(?:ly)?\b(?!\s+(?:documents?|data|domain|field|knowledge))|专业(?!领域|知识|术语|文档|资料|数据|问题|人士|课程|词汇)", "professional"),
    (r"\bfriendly\b|\bwarm\b|友好|亲切|热情|温柔|和蔼", "friendly"),
    (r"\bcasual(?:ly)?\b|口语化", "casual"),
    (r"\bpolite(?:ly)?\b|礼貌|客气", "polite"),
    (r"\bhumou?r(?:ous)?\b|\bfunny\b|幽默|风趣", "humorous"),
    (r"(?:answer|reply|respond|write|speak|talk)\w*\s+(?:only\s+)?in\s+chinese|\bin\s+chinese\b|用中文|中文回答|中文回复|说中文|用汉语", "answer in Chinese"),
    (r"(?:answer|reply|respond|write|speak|talk)\w*\s+(?:only\s+)?in\s+english|\bin\s+english\b|用英文|用英语|英文回答|英文回复|说英语", "answer in English"),
    (r"bullet|分点|要点形式|条列|列表形式|分条", "use bullet points"),
    (r"step[\s-]by[\s-]step|分步骤|一步一步|逐步", "step by step"),
    (r"\bcite\b|给出(?:出处|来源)|引用(?:来源|出处|原文)|注明出处", "cite sources"),
    (r"don'?t\s+(?:make\s+(?:things|stuff|anything)\s+up|hallucinate|guess)|say\s+(?:you|it|so)\s+(?:don'?t|do\s+not)\s+know"
     r"|不知道就说不知道|不要编造|不要瞎编|别编|不要胡编|不要乱编", "say so when unsure"),
    (r"\bno\s+emojis?\b|不要(?:用)?表情|别用表情", "no emoji"),
]
STYLE_RES = [(rx(p), phrase) for p, phrase in _STYLES]
_LIMIT_EN_RE = rx(r"(?:within|under|at\s+most|no\s+more\s+than|less\s+than|max(?:imum)?\s+(?:of\s+)?)\s*(\d+)\s*(words|sentences|characters|chars|lines)")
_LIMIT_ZH_RE = rx(r"(?:不超过|少于|控制在|最多|限制在)\s*(\d+)\s*个?(字|句|词|行)|(\d+)\s*个?(字|句话?|词|行)以内")
_ZH_UNITS = {"字": "characters", "句": "sentences", "句话": "sentences", "词": "words", "行": "lines"}


def read_style(m: str) -> list[str]:
    out: list[str] = []
    for pattern, phrase in STYLE_RES:
        if pattern.search(m) and phrase not in out:
            if phrase == "use Markdown" and "always give code in Markdown" in out:
                continue
            out.append(phrase)
    lim = _LIMIT_EN_RE.search(m)
    if lim:
        unit = "characters" if lim.group(2) == "chars" else lim.group(2)
        out.append(f"at most {lim.group(1)} {unit}")
    else:
        lz = _LIMIT_ZH_RE.search(m)
        if lz:
            n, unit = (lz.group(1), lz.group(2)) if lz.group(1) else (lz.group(3), lz.group(4))
            out.append(f"at most {n} {_ZH_UNITS.get(unit, 'characters')}")
    return out
