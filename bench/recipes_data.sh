#!/usr/bin/env bash
# Data for bench/recipes.py (run here, on the CPU machine, before the GPU call):
#   1. hold out whole documents: all of ../shared/corpus/modern/global-asp-stories (modern colloquial
#      Tibetan, not a training source) and every 10th file of the other modern sources
#      (nanhai-modern-writing, childrens-stories). They never enter the corpus, the tokenizer or the shards.
#   2. `make corpus tokenizer pack replay` on the sample minus the held-out files (TIBCPT_SAMPLE points
#      at a copy), into $B/out.
#   3. the held-out documents through the same cleaning (`tibcpt corpus` on bench/recipes-heldout.yaml),
#      so they look like training text (segmented sources re-joined), and English news (NTREX,
#      evaluation only) as is.
# Usage: bench/recipes_data.sh [B=out/recipes]
set -euo pipefail
B=${1:-out/recipes}
SAMPLE=../shared/corpus
rm -rf "$B/sample" "$B/heldout"
mkdir -p "$B/sample" "$B/heldout/nanhai-modern-writing" "$B/heldout/childrens-stories" "$B/heldout/global-asp-stories"
cp -r "$SAMPLE/classical" "$B/sample/"
mkdir -p "$B/sample/modern"
cp -r "$SAMPLE/modern/udhr" "$B/sample/modern/"
for src in nanhai-modern-writing childrens-stories; do
  mkdir -p "$B/sample/modern/$src"
  i=0
  for f in "$SAMPLE/modern/$src"/*.txt; do
    if (( i % 10 == 5 )); then cp "$f" "$B/heldout/$src/"; else cp "$f" "$B/sample/modern/$src/"; fi
    i=$((i + 1))
  done
done
# global-asp-stories is Markdown: '# title' and '##' page markers are layout, not text.
for f in "$SAMPLE/modern/global-asp-stories"/*.md; do
  grep -v '^#' "$f" > "$B/heldout/global-asp-stories/$(basename "${f%.md}").txt"
done
chmod -R u+w "$B/sample" "$B/heldout"
.venv/bin/tibcpt corpus --sources bench/recipes-heldout.yaml --out "$B/heldout-corpus" --workers 2
# One JSONL file per evaluation set (`tibcpt eval NAME=FILE`), and all of them as the
# decontamination list of the training corpus (13-gram overlap, pipeline/dedup/decontaminate.py).
.venv/bin/python - "$B" <<'PY'
import json, sys
from pathlib import Path
import pyarrow.parquet as pq
b = Path(sys.argv[1])
rows = pq.read_table(next((b / "heldout-corpus" / "data").glob("*.parquet"))).to_pylist()
sets = {"bo-colloquial": ["global-asp-stories"], "bo-modern": ["nanhai-modern-writing", "childrens-stories"]}
for name, sources in sets.items():
    with (b / f"{name}.jsonl").open("w", encoding="utf-8") as f:
        for r in rows:
            if r["source"] in sources:
                f.write(json.dumps({"id": r["id"], "source": r["source"], "text": r["text"]}, ensure_ascii=False) + "\n")
with (b / "heldout-all.jsonl").open("w", encoding="utf-8") as f:
    for r in rows:
        f.write(json.dumps({"text": r["text"]}, ensure_ascii=False) + "\n")
PY
cp ../shared/general/english-news-ntrex/news.txt "$B/en-news.txt"
export TIBCPT_SAMPLE="$PWD/$B/sample"
# sources.yaml without global-asp-stories: all of it is the held-out bo-colloquial set (its eval_only
# entry would pack it into the test split; here it must not enter the corpus at all).
.venv/bin/python - "$B" <<'PY'
import sys
from pathlib import Path
import yaml
b = Path(sys.argv[1])
doc = yaml.safe_load(Path("sources.yaml").read_text(encoding="utf-8"))
doc["sources"] = [s for s in doc["sources"] if s["name"] != "global-asp-stories"]
(b / "sources.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
PY
make corpus tokenizer pack replay OUT="$B/out" WORKERS=2 SOURCES="$B/sources.yaml" CORPUS_ARGS="--decontaminate $B/heldout-all.jsonl"
wc -l "$B"/*.jsonl; grep -A3 decontam "$B/out/corpus/manifest.json" | head -20
