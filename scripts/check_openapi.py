#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Check docs/openapi.yaml as a document (the meson test openapi_document).

Usage: check_openapi.py FILE

The route-by-route comparison with the server is the C test web_openapi;
this one parses the whole YAML (PyYAML, Debian python3-yaml) and checks what
a line parser cannot: the YAML is well formed, it is OpenAPI 3.1, every $ref
resolves, every operation has a unique operationId, declared tags, an
x-lodestar-role and responses, and the path parameters of each operation
are exactly the {names} of its path.  Exit 0 when sound, 1 with one line per
problem, 77 (skipped) without PyYAML.
"""
import re
import sys

try:
    import yaml
except ImportError:
    sys.stderr.write('check_openapi: PyYAML missing (apt-get install python3-yaml): skipped\n')
    sys.exit(77)

METHODS = ('get', 'put', 'post', 'delete', 'patch', 'head', 'options')
ROLES = ('none', 'viewer', 'operator', 'admin')


def main(path):
    with open(path, encoding='utf-8') as f:
        doc = yaml.safe_load(f)
    problems = []

    def resolve(ref):
        if not ref.startswith('#/'):
            raise KeyError(ref)
        node = doc
        for key in ref[2:].split('/'):
            node = node[key.replace('~1', '/').replace('~0', '~')]
        return node

    def walk(node, where):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == '$ref':
                    try:
                        resolve(v)
                    except (KeyError, TypeError):
                        problems.append('%s: $ref %s does not resolve' % (where, v))
                else:
                    walk(v, '%s/%s' % (where, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, '%s/%d' % (where, i))

    if not str(doc.get('openapi', '')).startswith('3.1'):
        problems.append('openapi: must be 3.1.x')
    walk(doc, '#')
    tags = {t['name'] for t in doc.get('tags', [])}
    op_ids = {}
    for p, item in doc.get('paths', {}).items():
        names = set(re.findall(r'\{([^}]+)\}', p))
        for method, op in item.items():
            if method not in METHODS:
                continue
            where = '%s %s' % (method.upper(), p)
            oid = op.get('operationId')
            if not oid:
                problems.append('%s: no operationId' % where)
            elif oid in op_ids:
                problems.append('%s: operationId %s also on %s' % (where, oid, op_ids[oid]))
            else:
                op_ids[oid] = where
            for t in op.get('tags', []):
                if t not in tags:
                    problems.append('%s: tag %s is not declared' % (where, t))
            if op.get('x-lodestar-role') not in ROLES:
                problems.append('%s: x-lodestar-role must be one of %s' % (where, ROLES))
            if (op.get('x-lodestar-role') == 'none') != (op.get('security') == []):
                problems.append('%s: security: [] exactly when x-lodestar-role is none' % where)
            if not op.get('responses'):
                problems.append('%s: no responses' % where)
            declared = set()
            for prm in op.get('parameters', []) + item.get('parameters', []):
                try:
                    prm = resolve(prm['$ref']) if '$ref' in prm else prm
                except (KeyError, TypeError):
                    continue  # reported by walk
                if prm.get('in') == 'path':
                    declared.add(prm['name'])
            if declared != names:
                problems.append('%s: path parameters %s, the path has %s'
                                % (where, sorted(declared), sorted(names)))
    for line in problems:
        print('check_openapi: %s' % line)
    return 1 if problems else 0


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.stderr.write('usage: check_openapi.py FILE\n')
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
