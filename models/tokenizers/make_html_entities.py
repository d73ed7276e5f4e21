"""Writes html-entities.ts: the HTML5 named character references as Python's html.entities.html5 lists them.

Python's html.unescape decodes with this table, and Wan's prompt cleaning calls html.unescape, so
Skyloom's cleaning reads the same table. Not part of CI. Usage: python3 make_html_entities.py
"""
import html.entities
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

lines = ["// The HTML5 named character references (WHATWG), as Python's html.entities.html5 has them; written by make_html_entities.py.",
         "// Keys without ';' are the legacy names that may also appear unterminated.",
         "export const HTML_ENTITIES: Readonly<Record<string, string>> = {"]
for name in sorted(html.entities.html5):
    lines.append(f"  {json.dumps(name)}: {json.dumps(html.entities.html5[name])},")
lines.append("};")
with open(os.path.join(HERE, "html-entities.ts"), "w") as f:
    f.write("\n".join(lines) + "\n")
