"""Write docs/policy-input.schema.json: the JSON Schema of the policy ``input`` document.

The schema is generated from ``privgate.engine.policy_io.PolicyInput`` so it cannot drift from
what the engine sends; tests/test_policy_schema.py fails when the committed file is stale.

    python scripts/gen_schema.py           # rewrite the file
    python scripts/gen_schema.py --check   # exit 1 when it is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from privgate.engine.policy_io import INPUT_VERSION, PolicyInput

TARGET = Path(__file__).resolve().parent.parent / "docs" / "policy-input.schema.json"


def render() -> str:
    schema = PolicyInput.model_json_schema()
    doc = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://privgate.dev/schemas/policy-input/v{INPUT_VERSION}.json",
        **schema,
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the committed schema is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is out of date; run python scripts/gen_schema.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
