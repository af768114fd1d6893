# SPDX-License-Identifier: Apache-2.0
"""Bytes as a C string literal, for the build-time embedding scripts.

embed_migrations.py and embed_text.py both compile text into the binaries;
this is the one place that knows how to escape it.  Standard library only.
"""


def c_string(data):
    """The bytes as concatenated C string literals, one per source line
    ('    ""' for no bytes).  Escapes backslash, quote, newline, tab and '?'
    (no trigraphs); any other byte outside printable ASCII becomes a
    three-digit octal escape, which cannot run into a following digit."""
    out = []
    for line in data.splitlines(keepends=True):
        parts = []
        for b in line:
            c = chr(b)
            if c == '\\':
                parts.append('\\\\')
            elif c == '"':
                parts.append('\\"')
            elif c == '\n':
                parts.append('\\n')
            elif c == '\t':
                parts.append('\\t')
            elif c == '?':
                parts.append('\\?')
            elif 32 <= b < 127:
                parts.append(c)
            else:
                parts.append('\\%03o' % b)
        out.append('    "%s"' % ''.join(parts))
    return '\n'.join(out) if out else '    ""'
