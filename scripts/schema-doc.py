#!/usr/bin/env python3
"""Regenerates the per-gateway mapping section of docs/SCHEMA.md from the
decoder modules' docs (the single source of those tables)."""
import pathlib, re

root = pathlib.Path(__file__).resolve().parent.parent
mods = ['kong', 'apisix', 'envoy', 'aws', 'tyk', 'traefik', 'nginx', 'clf', 'canonical']
titles = {'kong': 'Kong', 'apisix': 'Apache APISIX', 'envoy': 'Envoy / Istio', 'aws': 'AWS API Gateway',
          'tyk': 'Tyk', 'traefik': 'Traefik', 'nginx': 'NGINX JSON', 'clf': 'Combined / common log format',
          'canonical': 'Canonical JSON'}
parts = []
for m in mods:
    doc = []
    for line in (root / f'schemas/src/decode/{m}.rs').read_text().splitlines():
        if line.startswith('//!'):
            doc.append(line[4:] if len(line) > 3 else '')
        elif doc:
            break
    text = re.sub(r'\[`([^`]+)`\](\([^)]*\))?', r'`\1`', '\n'.join(doc).strip())
    parts.append(f'### `{m}`: {titles[m]}\n\n{text}\n')
doc_path = root / 'docs/SCHEMA.md'
head = doc_path.read_text().split('## Mapping per gateway')[0]
doc_path.write_text(head + '## Mapping per gateway\n\nEach decoder module\'s docs hold the same tables next to the code '
                    '(`scripts/schema-doc.py` copies them here).\n\n' + '\n'.join(parts))
