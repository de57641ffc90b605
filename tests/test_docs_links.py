"""Every relative link in README.md and docs/*.md points to a file of the project, and every
anchor into a markdown file to one of its headings (GitHub's heading ids)."""
import glob
import os.path as osp
import re

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DOCS = [osp.join(REPO, 'README.md')] + sorted(glob.glob(osp.join(REPO, 'docs', '*.md')))

_FENCE = re.compile(r'^(```|~~~).*?^\1[^\n]*$', re.M | re.S)
_CODE_SPAN = re.compile(r'(`+)(?:(?!\1).)+?\1')
_LINK = re.compile(r'!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
_HEADING = re.compile(r'^#{1,6}[ \t]+(.+?)[ \t#]*$', re.M)


def _prose(text: str) -> str:
    """The text without fenced code blocks and code spans (links there are not links)."""
    return _CODE_SPAN.sub('', _FENCE.sub('', text))


def links(path: str):
    with open(path, encoding='utf-8') as f:
        return _LINK.findall(_prose(f.read()))


def slug(heading: str) -> str:
    """GitHub's id of a heading: link text kept, lower case, punctuation dropped (word
    characters, spaces and hyphens stay), each space a hyphen."""
    text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', heading)
    text = re.sub(r'[^\w\- ]', '', text.lower())
    return text.replace(' ', '-')


def anchors(path: str) -> set:
    with open(path, encoding='utf-8') as f:
        text = _FENCE.sub('', f.read())
    seen, ids = {}, set()
    for heading in _HEADING.findall(text):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        ids.add(base if n == 0 else f'{base}-{n}')
    return ids


def test_slug_matches_github():
    assert slug("Policy quality (`bench_policy.py`): does the search find a better policy?") \
        == 'policy-quality-bench_policypy-does-the-search-find-a-better-policy'
    assert slug("Detection policy `zoph-det-v0` against mmdet's own transforms") == \
        'detection-policy-zoph-det-v0-against-mmdets-own-transforms'
    assert slug('How to add…') == 'how-to-add'


def test_link_pattern_skips_code():
    text = ('[a](x.md) `[b](y.md)` ![c](img.png) [d](<z.md> "t")\n'
            '```\n[e](w.md)\n```\n')
    assert _LINK.findall(_prose(text)) == ['x.md', 'img.png', 'z.md']


@pytest.mark.parametrize('doc', DOCS, ids=lambda p: osp.relpath(p, REPO))
def test_relative_links_resolve(doc):
    broken = []
    for target in links(doc):
        if re.match(r'^[a-z][a-z0-9+.-]*:', target, re.I):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition('#')
        dest = osp.normpath(osp.join(osp.dirname(doc), path)) if path else doc
        if not osp.exists(dest):
            broken.append(f'{target}: no file {osp.relpath(dest, REPO)}')
        elif anchor and dest.endswith('.md') and anchor not in anchors(dest):
            broken.append(f'{target}: no heading #{anchor} in {osp.relpath(dest, REPO)}')
    assert not broken, f'{osp.relpath(doc, REPO)}: ' + '; '.join(broken)
