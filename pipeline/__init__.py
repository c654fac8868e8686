"""`tibcpt.pipeline`: the corpus path of a document, one subpackage per stage family, in order.

    sources  -> crawl -> extract -> text -> dedup -> corpus -> tokens

`document` holds the units that flow between them (RawDoc, Document, Rejection, Stage, StageStats).
A subpackage imports only `document`, `tibcpt.config`/`tibcpt.io` and the subpackages its docstring
names; `tests/test_layout.py` checks the import graph has no cycle. Installed as `tibcpt.pipeline`
(the folder stays `pipeline/` at the top of the repository).
"""
