"""`tibcpt` — one entry point, one subcommand per job; each is a thin wrapper over a module.

Every subcommand's module defines `add_cli(parser)` and `cli(args) -> int`. Modules are imported
only for the subcommand that runs, so `tibcpt corpus` never pays for importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from tibcpt import __version__
from tibcpt.errors import UserError

COMMANDS: dict[str, tuple[str, str]] = {
    "corpus": ("tibcpt.pipeline.corpus.runner", "sources.yaml -> clean Tibetan text shards + manifest"),
    "normalize": ("tibcpt.pipeline.text.normalize", "normalize Tibetan text files to stdout (--key: lossy match key)"),
    "segment": ("tibcpt.pipeline.text.segment", "count syllables/sentences of text files (--segmented: re-join first)"),
    "crawl": ("tibcpt.pipeline.crawl.crawler", "crawl `kind: web` sources politely into WARC files"),
    "tokenizer": ("tibcpt.pipeline.tokens.tokenizer", "train Tibetan pieces and extend a base tokenizer"),
    "pack": ("tibcpt.pipeline.tokens.pack", "tokenize the clean corpus and pack fixed-length token shards"),
    "base-model": ("tibcpt.training.base_model", "convert the embedded SmolLM2 GGUF into a HF model folder"),
    "train": ("tibcpt.training.train", "continued pretraining on a shard folder"),
    "generate": ("tibcpt.training.generate", "sample text from a trained model folder"),
    "eval": ("tibcpt.training.evaluate_text", "bits per byte of a model folder on raw text files (NAME=FILE ...)"),
    "publish": ("tibcpt.publish", "push the dataset or model with a card to the Hugging Face Hub"),
}


def _usage() -> str:
    lines = [f"tibcpt {__version__}", "", "usage: tibcpt <command> [options]", "", "commands:"]
    lines += [f"  {name:<12} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run `tibcpt <command> --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv[0] == "--version":
        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"tibcpt: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, help_ = COMMANDS[name]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"tibcpt {name}", description=help_)
    module.add_cli(parser)
    args = parser.parse_args(rest)
    try:
        return int(module.cli(args) or 0)
    except UserError as e:  # ConfigError, InputError: one line, no traceback; anything else is a bug
        print(f"tibcpt {name}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
