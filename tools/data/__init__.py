"""Documents and datasets in, a cleaned and split SFT dataset out (``tunepilot data``).

``convert_documents(ConvertRequest(inputs=[...], out_dir=...))`` writes ``train.jsonl``, ``eval.jsonl``
and ``report.json`` and returns a :class:`ConvertResult`.
"""

from tools.data.convert import convert_documents
from tools.data.schema import ConvertRequest, ConvertResult, FileReport, Issue, TokenStats

__all__ = ["ConvertRequest", "ConvertResult", "FileReport", "Issue", "TokenStats", "convert_documents"]
