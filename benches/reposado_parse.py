#!/usr/bin/env python3
"""Reads an Apple software-update catalog and each product's English
distribution file the way reposado's repo_sync does, for comparison with
`sucatalog-list --dist-dir`:

    python3 benches/reposado_parse.py CATALOG DIST_DIR

The catalog (plain XML or gzip) is loaded whole with plistlib; for every
product the PostDate, Distributions and the Packages' sizes are read; the
English (else "en") distribution `<key>.English.dist` in DIST_DIR is parsed
with xml.dom.minidom: the choice named by the `SoftwareUpdate` choices
outline gives title, version and description, its pkg-refs the packages,
and names starting with SU_ are looked up in the .strings text of the
first `<localization><strings>`, matched with a regular expression. Only
the standard library is used.

Prints one JSON object: products, products with a distribution, products
skipped (not usable as reposado reads them), seconds.
"""

import gzip
import json
import os
import plistlib
import re
import sys
import time
from xml.dom import minidom
from xml.parsers.expat import ExpatError

# "KEY" = "VALUE"; or 'KEY' = 'VALUE'; values may span lines; the quote
# character may appear escaped inside the value.
STRINGS_ENTRY = re.compile(
    r"""^\s*(?P<kq>['"]?)(?P<key>[^'"]+)(?P=kq)\s*=\s*(?P<vq>['"])(?P<value>.*?)(?P=vq);$""",
    re.MULTILINE | re.DOTALL,
)


def strings_table(text):
    table = {}
    for m in STRINGS_ENTRY.finditer(text):
        quote = m.group("vq")
        table[m.group("key")] = m.group("value").replace("\\" + quote, quote)
    return table


def parse_dist(path):
    """title, version, description and pkg-refs of a distribution file."""
    try:
        dom = minidom.parse(path)
    except (ExpatError, OSError):
        return None
    choice_id = "su"
    for outline in dom.getElementsByTagName("choices-outline"):
        if outline.getAttribute("ui") == "SoftwareUpdate":
            lines = outline.getElementsByTagName("line")
            if lines and lines[0].hasAttribute("choice"):
                choice_id = lines[0].getAttribute("choice")
    attrs = {}
    pkgs = {}
    for choice in dom.getElementsByTagName("choice"):
        if choice.getAttribute("id") != choice_id:
            continue
        for name, value in choice.attributes.items():
            attrs[name] = value
        for ref in choice.getElementsByTagName("pkg-ref"):
            ref_id = ref.getAttribute("id")
            if not ref_id:
                continue
            pkg = pkgs.setdefault(ref_id, {})
            if ref.firstChild is not None and ref.firstChild.wholeText:
                pkg["name"] = ref.firstChild.wholeText
            if ref.hasAttribute("onConclusion"):
                pkg["RestartAction"] = ref.getAttribute("onConclusion")
            if ref.hasAttribute("version"):
                pkg["version"] = ref.getAttribute("version")
    strings = {}
    localizations = dom.getElementsByTagName("localization")
    if localizations:
        elements = localizations[0].getElementsByTagName("strings")
        if elements and elements[0].firstChild is not None:
            strings = strings_table(elements[0].firstChild.wholeText)
    dist = {
        "su_name": attrs.get("suDisabledGroupID", ""),
        "title": attrs.get("title", ""),
        "version": attrs.get("versStr", ""),
        "description": attrs.get("description", ""),
    }
    for k, v in dist.items():
        if v.startswith("SU_"):
            dist[k] = strings.get(v, v)
    dist["pkg_refs"] = pkgs
    return dist


def main(argv):
    catalog_path, dist_dir = argv
    started = time.perf_counter()
    with open(catalog_path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    catalog = plistlib.loads(data)
    products = {}
    with_dist = 0
    skipped = 0
    for key, product in catalog.get("Products", {}).items():
        if not isinstance(product, dict):
            skipped += 1
            continue
        packages = product.get("Packages", [])
        distributions = product.get("Distributions", {})
        post_date = product.get("PostDate")
        if not isinstance(packages, list) or not isinstance(distributions, dict) or post_date is None:
            skipped += 1
            continue
        size = 0
        for package in packages:
            size += package.get("Size", 0)
        info = {"size": str(size), "PostDate": post_date, "CatalogEntry": product}
        lang = "English" if "English" in distributions else "en" if "en" in distributions else None
        if lang is not None:
            dist = parse_dist(os.path.join(dist_dir, "%s.%s.dist" % (key, lang)))
            if dist is not None:
                with_dist += 1
                info.update(
                    title=dist["title"],
                    version=dist["version"],
                    description=dist["description"],
                    pkg_refs=dist["pkg_refs"],
                )
        products[key] = info
    print(json.dumps({
        "products": len(products),
        "with_distribution": with_dist,
        "skipped": skipped,
        "seconds": time.perf_counter() - started,
    }))


if __name__ == "__main__":
    main(sys.argv[1:])
