"""What a message asks for: the intent words, their order, and yes / no during a confirmation."""

from __future__ import annotations

import re

from agent.goal import Intent
from agent.words.text import rx

_NEGATION_BEFORE = rx(
    r"(?:不要|不用|不必|无需|别|先不|(?<!要)不|\bdon'?t|\bdo\s+not|\bno\s+need\s+to|\bnever|\bskip(?:\s+the)?|\bwithout)\s*(?:要|用|去|再|急着|急于)?\s*$"
)

_INTENT_PATTERNS: list[tuple[Intent, str]] = [
    ("finetune",
     r"fine[\s-]*tun(?!ed)|finetun(?!ed)|微调(?!前|后|之后|过的|好的|完|的模型)|精调|调优|(?<![a-z])sft(?![a-z])"
     r"|\bteach\s+(?:it|him|her|(?:the|a|an|our|my)\s+(?:model|assistant|bot|chatbot))\b|\bmake\s+(?:it|the\s+model)\s+(?:learn|know)"
     r"|\btrain\s+(?:(?:a|an|the|my|our|me\s+a)\s+)?(?:[\w-]+\s+){0,3}?(?:model|bot|chatbot|assistant|llm|lora|qlora|adapter|agent)s?\b"
     r"|\btrain\s+(?:\S+\s+){0,3}?(?:on|with|using|from)\s+(?:these|this|my|our|the|all)\b"
     r"|训练(?:一个|个|出|成|一下(?!进度))|(?<!不)(?:用|拿|基于|根据)[^,.;!?，。；！？]{0,40}?(?:训练|学习)(?!记录|进度|状态|得|的怎么样|率)"
     r"|(?:做|搞|跑|来)(?:一[个次下]|个)?\s*q?lora|\b(?:do|run)\s+(?:a\s+)?q?lora\b"
     r"|\bbuild\s+(?:a|an|me\s+a)\s+(?:[\w-]+\s+){0,3}?(?:bot|chatbot|assistant)"
     r"|(?:做|打造|搭建|搞|定制)(?:一个|个)?[^,.;!?，。；！？]{0,12}?(?:机器人|助手|客服模型|专属模型)"
     r"|让(?:模型|它)[^,.;!?，。；！？]{0,6}?学会|教(?:会)?(?:模型|它)"),
    ("follow_up",
     r"\b(?:re-?train|train\s+(?:it\s+)?again|fine-?tune\s+(?:it\s+)?again)\s+(?:\w+\s+){0,2}?with\s+(?:my|the|these|those|our)\s+"
     r"(?:\w+\s+)?(?:fix(?:es)?|corrections?|edits?|changes?)\b"
     r"|\b(?:train|teach)\s+(?:it\s+|the\s+model\s+)?(?:on\s+)?(?:my|the|these|those)\s+(?:fix(?:es)?|corrections?)\b"
     r"|\b(?:add|include|use)\s+my\s+(?:fix(?:es)?|corrections?)\b.{0,30}\b(?:train|retrain|run)"
     r"|把?我(?:改|纠正|修改|更正|改正)(?:过)?的(?:答案|内容|问题)?(?:也|都)?(?:一起)?(?:训练|学|加)进去"
     r"|(?:用|带上|加上|拿)(?:我的)?(?:纠正|修改|更正|改正)(?:的答案|的内容)?(?:再|重新)?(?:训练|微调|训)"
     r"|(?:纠正|修改|更正|改正)(?:的|过的)?(?:答案|内容)?(?:也|都)?(?:训练|学)进去"
     r"|把(?:我的)?(?:纠正|修改|更正|改正)(?:都|也)?(?:训练|学)进去"),
    ("train",
     r"\b(?:start|begin|kick\s+off|launch|resume|continue|restart|rerun|re-run)\s+(?:the\s+)?(?:training|train|fine-?tuning)\b"
     r"|\btrain\s+(?:it\s+)?(?:now|again)\b|^\s*train\s*[.!]?\s*$"
     r"|\brun\s+(?:the\s+)?training\b|开始训练|继续训练|恢复训练|重新训练|接着训练|再训练|启动训练|开训|训练吧"),
    ("convert",
     r"\bconvert|\bturn\s+(?:these|this|the|my|our)\s+(?:[\w-]+\s+){0,2}?(?:files?|docs?|documents?|pdfs?|faqs?)\s+into"
     r"|\b(?:prepare|make|build|create|generate)\s+(?:a\s+|the\s+|me\s+a\s+)?(?:training\s+)?(?:dataset|data\s*set|training\s+data|jsonl)"
     r"|\bclean\s+(?:up\s+)?(?:the\s+)?data|转换|转成|转为|转化|整理成|处理成|做成数据集|生成数据集|制作数据集|构建数据集|准备数据"
     r"|数据处理|处理(?:一下)?(?:这些)?(?:文件|文档|数据)|只(?:要|做)?(?:数据|转换)"),
    ("merge", r"\bmerg(?:e|ing)\b|合并|融合|\bexport\s+(?:the\s+)?(?:merged|full)\s+model|导出(?:完整)?模型"),
    ("export", r"\bgguf\b|\bollama\b"),
    ("deploy",
     r"\bdeploy(?!ed)|\bserve\b|\bserving\b|\bstart\s+(?:a\s+|the\s+)?(?:server|endpoint|api)|\bput\s+it\s+online"
     r"|\bhost\s+(?:it|the\s+model)|\bexpose\s+(?:an?\s+)?api|部署(?!好|完|成功|了吗|了没)|上线(?!了吗|了没)|发布|启动服务|开(?:个|一个)?(?:接口|服务)|提供(?:api|接口|服务)"
     r"|起(?:个|一个)?服务"),
    ("evaluate",
     r"\beval(?:uate|uation)?s?\b|\bbenchmark|\bscore\s+(?:it|the\s+model)|\bcompare\s+(?:the\s+)?(?:base|before|models?|it)"
     r"|\bbefore[\s/-]+(?:and\s+|vs\.?\s+|versus\s+)?after\b|\bhow\s+(?:good|well)\s+(?:is|does)\s+(?:it|the\s+model)"
     r"|\btest\s+(?:it|the\s+(?:new\s+|fine-?tuned\s+)?model)\b(?!\s+(?:with|on)\b)|评估|评测|测评|测试(?!集|数据)|效果(?:怎么样|如何|好不好)"
     r"|打分|对比|比较一下|比一比|前后对比|跑(?:个|一下)?分"),
    ("cancel",
     r"\bcancel|\babort\b|\bstop\b|\bkill\b|\bhalt\b|\bterminate\b|停止|停掉|停下|停了|暂停|取消|终止|中止|别训练了|不要训练了|别跑了|不训了"),
    ("status",
     r"\bstatus\b|\bprogress\b|\bhow(?:'s|\s+is)\s+(?:it|the\s+(?:training|run|job|fine-?tuning))\s+going|\bhow\s+far\b"
     r"|\bhow\s+long\s+(?:left|remaining|until|till|to\s+go)|\bhow\s+much\s+longer|\bwhere\s+are\s+we\b"
     r"|\bis\s+it\s+(?:done|finished|ready|deployed|trained|running)|\beta\b|\bcurrent\s+loss|\bwhat(?:'s|\s+is)\s+the\s+loss"
     r"|进度|状态|(?<!效果)怎么样了|到哪(?:一步)?了|(?:训练|跑)(?:得|的)(?:怎么样|如何)|(?:还要|还需要|还剩)多久"
     r"|多久(?:能|才能)?(?:好|完|结束)|完成了吗|好了吗|训练完了吗|跑完了吗|loss(?:是)?多少"),
    ("list_runs",
     r"\blist\b.{0,20}\bruns?\b|\b(?:my|all|past|previous|old|recent|earlier)\s+(?:training\s+)?runs\b"
     r"|\bshow\s+(?:me\s+)?(?:the\s+|my\s+|all\s+)?runs\b|\bruns\s+(?:list|history)|\bwhich\s+runs\b|\brun\s+history"
     r"|运行记录|训练记录|历史(?:记录|运行|训练)|(?:我的|所有|之前的|以前的|过去的|全部)(?:运行|训练|任务|实验)"
     r"|有哪些(?:运行|训练|任务)|列出(?:所有)?(?:的)?(?:运行|训练|任务)|跑过(?:哪些|什么)"),
    ("help",
     r"^\s*(?:help|\?|帮助|help\s+me|帮忙|帮我|hi|hello|hey|你好|您好|嗨|哈喽|在吗)\s*[.!?~]*\s*$|\bhelp\b(?!\s+me\s+\w)|\bwhat\s+can\s+you\s+do|\bwhat\s+do\s+you\s+do"
     r"|\bhow\s+(?:do\s+i|to)\s+use\b|\bhow\s+does\s+this\s+work|\bwho\s+are\s+you|帮助|你能(?:做|干)(?:什么|啥|些什么)"
     r"|你会(?:做)?(?:什么|啥)|(?:有|有哪些)(?:什么)?功能|怎么用|如何使用|使用说明|能干(?:嘛|啥)|你是谁"),
]
_INTENT_RES = [(intent, rx(p, re.M)) for intent, p in _INTENT_PATTERNS]

_PLAN_STRONG_RE = rx(
    r"\bwhat\s+would\s+you\s+(?:pick|use|choose|recommend|suggest|do|go\s+with)|\bwhich\s+(?:model|method|settings?|one)\b"
    r"|\bwhat\s+(?:settings|config(?:uration)?|model|method)\s+(?:should|would|do|for)\b|\bcan\s+i\s+(?:fine-?tune|train|run|fit)\b"
    r"|\b(?:will|would|does|can)\s+(?:it|this|that|a\s+\w+)\s+fit|\bis\s+it\s+(?:possible|feasible|enough)"
    r"|\benough\s+(?:memory|vram)|\bhow\s+much\s+(?:memory|vram|gpu\s+memory|time)|\bplan\s+only|\bjust\s+(?:a\s+|the\s+)?plan"
    r"|\bonly\s+(?:a\s+|the\s+)?plan|\bdry[\s-]*run|\bdon'?t\s+(?:start|train)\b|\bwithout\s+training"
    r"|(?:能不能|能否|可不可以)(?:在|用)?[^,.;!?，。；！？]{0,16}?(?:跑|装下|放下|放得下|训得动)|跑得动|跑不动|能跑吗|能(?:不能)?跑[^,.;!?，。；！？]{0,16}?吗|(?:跑|训|微调)得(?:动|了)|够不够|够吗|够用吗|需要多少(?:显存|内存|时间)|要多少显存"
    r"|只要?(?:方案|计划)|只(?:做)?规划|先(?:给|出|做)(?:我)?(?:一个|个)?(?:方案|计划)|先(?:别|不要|不)(?:开始)?训练"
    r"|你会(?:怎么|如何)?(?:选|用|配)|你(?:会)?推荐|选(?:什么|哪个)|用什么(?:模型|方法|配置|参数)|怎么配置|如何配置"
    r"|该用(?:什么|哪个)|用哪个|哪个(?:更)?好|哪个(?:更)?合适|\bwhich\s+(?:is|one\s+is)\s+better"
)
_PLAN_WEAK_RE = rx(r"\bplan\b|\brecommend|\bsuggest|方案|计划|推荐|建议|规划")
_JUST_RE = rx(r"\bjust\b|\bonly\b|只|仅|光")

_YES_RE = rx(
    r"^(?:\s|那就|那么|那|嗯|哦|oh|well|then|ok|okay|alright|,|\.)*"
    r"(?:yes|yep|yeah|yup|ya|y|sure|ok|okay|k|go|go\s+ahead|go\s+for\s+it|do\s+it|start|start\s+(?:it|training|the\s+training|now)"
    r"|proceed|continue|approved?|confirm(?:ed)?|lgtm|sounds\s+good|looks\s+good|fine|alright|all\s+right|let'?s\s+go"
    r"|let'?s\s+do\s+it|run\s+it|deploy\s+it|please\s+do|good|great|perfect"
    r"|好的|好啊|好吧|好|可以|行吧|行|确认|确定|开始吧|开始训练吧|开始训练|开始|没问题|同意|是的|是(?!不|否)|对的|对(?!了)|嗯嗯|嗯|冲|批准"
    r"|就这样|就这么办|开干|部署吧|部署|搞吧|来吧|走起)(?![a-z'-])"
)
_YES_ANY_RE = rx(r"开始吧|开始训练|没问题|就这样|\bgo\s+ahead\b|\blet'?s\s+go\b|\bsounds\s+good\b|\blooks\s+good\b|\bapprove")
_NO_CLEAN_RE = rx(r"\bno\s+problem\b|\bno\s+worries\b|\bwhy\s+not\b|不错|不客气")
_NO_RE = rx(
    r"^(?:\s|那|嗯|,)*(?:no|nope|nah|n|cancel|stop|abort|don'?t|do\s+not|not\s+(?:now|yet)|never\s*mind|later|wait|hold\s+on"
    r"|不要|不用|不行|不了|不(?![过错如然])|别|取消|算了|否|先不|等等|等一下|停|拒绝|暂停)(?![a-z'-])"
)
_NO_ANY_RE = rx(r"\bcancel\b|取消|算了|先不要|不要了|不用了|\bdon'?t\s+(?:start|train|deploy)|\bnot\s+now\b")
QUESTION_RE = rx(
    r"\bwhy\b|为什么|为啥|什么是|是什么|什么意思|\bwhat\s+(?:is|does|are|do)\b|\bwhat'?s\b|\bhow\s+(?:much|many|long|does|do)\b"
    r"|多少|多久|怎么样|\bexplain\b|解释"
)


def _negated(m: str, start: int) -> bool:
    return bool(_NEGATION_BEFORE.search(m[max(0, start - 14):start]))


def found_intents(m: str) -> list[tuple[int, Intent]]:
    found: list[tuple[int, Intent]] = []
    for intent, pattern in _INTENT_RES:
        for mt in pattern.finditer(m):
            if _negated(m, mt.start()):
                continue
            found.append((mt.start(), intent))
            break
    return found


def confirm_answer(m: str) -> Intent | None:
    text = m.strip()
    cleaned = _NO_CLEAN_RE.sub(" ", text)
    if _NO_RE.match(cleaned) or _NO_ANY_RE.search(cleaned):
        return "confirm_no"
    yes = _YES_RE.match(cleaned)
    if yes:
        rest = cleaned[yes.end():]
        if re.search(r"[?]|吗", rest) and not re.fullmatch(r"[\s,.!~]*", rest):
            return None  # "ok but why 4-bit?" is a question, not an approval
        return "confirm_yes"
    if _YES_ANY_RE.search(cleaned):
        return "confirm_yes"
    return None



def ordered_intents(found: list[tuple[int, Intent]], request: str, has_files: bool) -> list[Intent]:
    """The intents in the order the message names them, once each, with the steps one already contains
    removed: a feasibility question is a plan, the journey absorbs its own steps, an export merges itself."""
    intents: list[Intent] = []
    for _, intent in sorted(found, key=lambda f: f[0]):
        if intent not in intents:
            intents.append(intent)
    if _PLAN_STRONG_RE.search(request):  # "can I …", "what would you pick", "能跑吗": a plan, not a run
        intents = ["plan", *(i for i in intents if i not in ("finetune", "train", "plan"))]
    elif "finetune" in intents:  # the journey already converts, plans, trains, merges, deploys, evaluates
        intents = [i for i in intents if i not in ("convert", "plan", "train", "merge", "deploy", "evaluate")]
    elif not intents and _PLAN_WEAK_RE.search(request):
        intents = ["plan"]
    if "follow_up" in intents:  # "retrain with my fixes" is its own run, from the corrected run's adapter
        intents = ["follow_up", *(i for i in intents if i not in ("follow_up", "finetune", "train", "plan"))]
    if "export" in intents:  # it merges first when it must; "把模型转成 gguf" converts a model, not files
        intents = [i for i in intents if i != "merge" and (i != "convert" or has_files)]
    if "convert" in intents and _JUST_RE.search(request):
        intents = ["convert", *(i for i in intents if i not in ("convert", "finetune", "plan", "train"))]
    return intents
