#!/usr/bin/env python3
"""Writes a synthetic Apple software-update catalog (.sucatalog) with
Python's plistlib, in the shape swscan.apple.com publishes, and optionally
one English distribution file per product.

    python3 gen_sucatalog.py --products 5000 --seed 1 --out catalog.sucatalog \
        [--gzip] [--dist-dir DIR] [--dist-base-url URL] [--first N] [--manifest FILE]

The output depends only on the arguments. Product i (counting from
--first) has the key "%03d-%05d" % (i // 100000 + 1, i % 100000), so two
catalogs made with overlapping --first ranges share products, as Apple's
per-release catalogs do; what a product contains depends on --seed and i.

About one product in 101 is deliberately broken (missing PostDate, Packages
of the wrong type, a package without Size, a product that is not a
dictionary, PostDate as a string); a reader should skip it and say so.

--manifest writes JSON describing what a reader should find: for every
product its key, whether it is broken, its packages, languages, and what
its distribution file says (title, version, a sentence of the description,
pkg-refs and the OS-version range its checks allow).
"""

import argparse
import datetime
import gzip
import hashlib
import json
import os
import plistlib
import random
import sys

LANGUAGES = ["French", "German", "Japanese", "es", "zh_TW", "nl", "it"]
BROKEN_KINDS = [
    "missing PostDate",
    "Packages not an array",
    "package without Size",
    "not a dictionary",
    "PostDate not a date",
]
NAMES = [
    "Safari",
    "Security Update",
    "XProtectPlistConfigData",
    "Command Line Tools for Xcode",
    "MRTConfigData",
    "Gatekeeper Configuration Data",
    "macOS Sonoma",
    "AirPort Base Station Firmware Update",
    "Pro Video Formats",
    "Printer Driver Update",
]
OS_RANGES = [("10.13", "10.14"), ("10.15", "11.0"), ("11.0", "12.0"),
             ("12.0", "13.0"), ("13.0", "14.0"), ("14.0", "15.0")]


def product_key(i):
    return "%03d-%05d" % (i // 100000 + 1, i % 100000)


def broken_kind(i):
    if i % 101 != 50:
        return None
    return BROKEN_KINDS[(i // 101) % len(BROKEN_KINDS)]


def make_product(i, seed, dist_base_url=None):
    """Returns (catalog entry, manifest entry, distribution XML)."""
    rng = random.Random("%d:%d" % (seed, i))
    key = product_key(i)
    base = "https://swcdn.apple.com/content/downloads/%02d/%02d/%s/%s" % (
        rng.randrange(100), rng.randrange(100), key,
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(30)))
    dist_base = base.replace("swcdn.apple.com", "swdist.apple.com")
    name = NAMES[i % len(NAMES)]
    version = "%d.%d" % (rng.randrange(10, 18), rng.randrange(0, 10))
    if rng.random() < 0.5:
        version += ".%d" % rng.randrange(1, 6)
    post_date = datetime.datetime(2015, 1, 1) + datetime.timedelta(
        seconds=rng.randrange(10 * 365 * 86400))

    languages = ["English"] + rng.sample(LANGUAGES, rng.randrange(1, 3))
    if dist_base_url:
        dist_base = dist_base_url.rstrip("/")
    distributions = {lang: "%s/%s.%s.dist" % (dist_base, key, lang) for lang in languages}

    packages = []
    manifest_packages = []
    pkg_refs = []
    for j in range(rng.randrange(1, 5)):
        pkg_name = "%s%s_%d" % (name.replace(" ", ""), version.replace(".", "_"), j)
        pkg = {"URL": "%s/%s.pkg" % (base, pkg_name), "Size": rng.randrange(1000, 14 * 10**9)}
        digest = None
        if rng.random() < 0.8:
            digest = hashlib.sha1(("%s %d %d" % (key, j, seed)).encode()).hexdigest()
            pkg["Digest"] = digest
        if rng.random() < 0.7:
            pkg["MetadataURL"] = "%s/%s.pkm" % (dist_base, pkg_name)
        if pkg["Size"] > 10**9 or rng.random() < 0.3:
            pkg["IntegrityDataURL"] = pkg["URL"] + ".integrityDataV1"
            pkg["IntegrityDataSize"] = rng.randrange(500, 50000)
        packages.append(pkg)
        manifest_packages.append({"url": pkg["URL"], "size": pkg["Size"], "digest": digest})
        pkg_refs.append({
            "id": "com.apple.pkg.%s" % pkg_name,
            "version": "%d.%d.%d" % (rng.randrange(1, 20000), rng.randrange(0, 100), rng.randrange(0, 10)),
            "install_kbytes": rng.randrange(1, 4 * 10**6),
            "name": "%s.pkg" % pkg_name,
        })

    product = {
        "PostDate": post_date,
        "Distributions": distributions,
        "Packages": packages,
    }
    if rng.random() < 0.35:
        product["ServerMetadataURL"] = "%s/%s.smd" % (base, name.replace(" ", ""))
    emi = None
    if i % 5 == 0:
        emi = {"ProductType": "macOS", "ProductVersion": version}
        if rng.random() < 0.5:
            emi["InstallAssistantPackageIdentifiers"] = {
                "OSInstall": "com.apple.mpkg.OSInstall",
                "SharedSupport": "com.apple.pkg.InstallAssistant.%s" % key,
            }
        else:
            emi["AutoUpdate"] = "YES"
        product["ExtendedMetaInfo"] = emi
    if rng.random() < 0.2:
        product["State"] = "ramped"
    if rng.random() < 0.05:
        product["DeferredSUEnablementDate"] = post_date + datetime.timedelta(days=90)
    if rng.random() < 0.1:
        product["FutureKey%d" % rng.randrange(3)] = rng.randrange(100)

    kind = broken_kind(i)
    entry = product
    if kind == "missing PostDate":
        del product["PostDate"]
    elif kind == "Packages not an array":
        product["Packages"] = "Package.pkg"
    elif kind == "package without Size":
        del product["Packages"][-1]["Size"]
    elif kind == "not a dictionary":
        entry = "withdrawn"
    elif kind == "PostDate not a date":
        product["PostDate"] = post_date.isoformat()

    os_range = OS_RANGES[rng.randrange(len(OS_RANGES))] if rng.random() < 0.6 else None
    os_style = rng.choice(["script", "allowed-os-versions"]) if os_range else None
    cdata = rng.random() < 0.7
    title = name if rng.random() < 0.8 else '%s "Beta"' % name
    sentence = "This update fixes issue %d in %s." % (rng.randrange(10**6), name)
    dist = make_dist(key, title, version, sentence, pkg_refs, os_range, os_style, cdata,
                     with_auxinfo=(emi is not None))
    manifest = {
        "key": key,
        "broken": kind,
        "languages": languages,
        "packages": manifest_packages,
        "server_metadata_url": product.get("ServerMetadataURL") if isinstance(product, dict) else None,
        "product_version": emi["ProductVersion"] if emi else None,
        "title": title,
        "version": version,
        "sentence": sentence,
        "pkg_refs": pkg_refs,
        "os_min": os_range[0] if os_range else None,
        "os_before": os_range[1] if os_range else None,
        "os_style": os_style,
    }
    return entry, manifest, dist


def xml_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def attr_escape(s):
    return xml_escape(s).replace('"', "&quot;")


def strings_double(s):
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def strings_single(s):
    return "'%s'" % s.replace("\\", "\\\\").replace("'", "\\'")


def make_dist(key, title, version, sentence, pkg_refs, os_range, os_style, cdata, with_auxinfo):
    description = (
        '<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd">\n'
        '<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8" />\n'
        '<style type="text/css">body { font: 11pt "Lucida Grande"; }</style>\n</head>\n'
        "<body>\n<p>%s</p>\n<p>It&#39;s recommended for all users &amp; doesn't need a restart"
        " on &quot;supported&quot; Macs.</p>\n"
        '<p>For detailed information, please visit: <a href="https://support.apple.com/kb/HT201222">'
        "https://support.apple.com/kb/HT201222</a></p>\n</body>\n</html>\n"
    ) % sentence
    strings = "\n".join([
        '"SU_TITLE" = %s;' % strings_double(title),
        '"SU_VERS" = %s;' % strings_double(version),
        '"SU_SERVERCOMMENT" = "Generated product %s";' % key,
        '/* The description shown in Software Update. */',
        '"SU_DESCRIPTION" = %s;' % strings_single(description),
        '"INSTALL_ERROR" = "This update cannot be installed on this computer.";',
        "",
    ])
    if cdata:
        strings_xml = "<![CDATA[%s]]>" % strings
    else:
        strings_xml = xml_escape(strings)

    lines = [
        '<?xml version="1.0" encoding="utf-8" standalone="no"?>',
        '<installer-gui-script minSpecVersion="1" auth="root">',
        "    <title>SU_TITLE</title>",
        '    <options hostArchitectures="x86_64,arm64" customize="never" '
        'allow-external-scripts="no" require-scripts="false"/>',
        '    <domains enable_anywhere="false" enable_currentUserHome="false" enable_localSystem="true"/>',
    ]
    if os_style == "allowed-os-versions":
        lines += [
            "    <allowed-os-versions>",
            '        <os-version min="%s" before="%s"/>' % os_range,
            "    </allowed-os-versions>",
        ]
    lines.append('    <volume-check script="VolumeCheck()"/>')
    if os_style == "script":
        lines.append('    <installation-check script="InstallationCheck()"/>')
    script = [
        "function VolumeCheck(prefix) {",
        "    if (typeof(my.target.systemVersion) == 'undefined') {",
        "        return false;",
        "    }",
        "    return true;",
        "}",
    ]
    if os_style == "script":
        script = [
            "var minVersion = '%s';" % os_range[0],
            "function InstallationCheck(prefix) {",
            "    if (system.compareVersions(system.version.ProductVersion, '%s') < 0 || "
            "system.compareVersions(system.version.ProductVersion, '%s') >= 0) {" % os_range,
            "        my.result.message = system.localizedString('INSTALL_ERROR');",
            "        my.result.type = 'Fatal';",
            "        return false;",
            "    }",
            "    return true;",
            "}",
        ] + script
    lines.append("    <script>")
    lines += [xml_escape(line) for line in script]
    lines.append("    </script>")
    lines += [
        '    <choices-outline ui="SoftwareUpdate">',
        '        <line choice="su"/>',
        "    </choices-outline>",
        "    <choices-outline>",
        '        <line choice="su"/>',
        "    </choices-outline>",
        '    <choice id="su" suDisabledGroupID="%s" visible="false" title="SU_TITLE" versStr="SU_VERS" '
        'description="SU_DESCRIPTION" description-mime-type="text/html" '
        'secondaryDescription="SU_SERVERCOMMENT" start_selected="true">' % attr_escape(title),
    ]
    for ref in pkg_refs:
        lines.append(
            '        <pkg-ref id="%s" auth="Root" packageIdentifier="%s" onConclusion="None">%s</pkg-ref>'
            % (ref["id"], ref["id"], ref["name"]))
    lines.append("    </choice>")
    for ref in pkg_refs:
        lines.append('    <pkg-ref id="%s" installKBytes="%d" version="%s"/>'
                     % (ref["id"], ref["install_kbytes"], ref["version"]))
    if with_auxinfo:
        lines += [
            "    <auxinfo>",
            "        <dict>",
            "            <key>macOSProductVersion</key>",
            "            <string>%s</string>" % xml_escape(version),
            "            <key>macOSProductBuildVersion</key>",
            "            <string>23F%d</string>" % (len(key) * 7),
            "        </dict>",
            "    </auxinfo>",
        ]
    lines += [
        "    <localization>",
        '        <strings language="English">%s</strings>' % strings_xml,
        "    </localization>",
        "</installer-gui-script>",
        "",
    ]
    return "\n".join(lines)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--products", type=int, required=True, help="how many products")
    ap.add_argument("--seed", type=int, default=1, help="what the products contain")
    ap.add_argument("--out", required=True, help="the catalog to write")
    ap.add_argument("--gzip", action="store_true", help="gzip the catalog")
    ap.add_argument("--dist-dir", help="write <key>.English.dist files here")
    ap.add_argument("--dist-base-url",
                    help="distribution URLs are <this>/<key>.<language>.dist (a server of --dist-dir)")
    ap.add_argument("--first", type=int, default=0, help="index of the first product")
    ap.add_argument("--manifest", help="write a JSON description of the products here")
    args = ap.parse_args(argv)

    products = {}
    manifest = []
    if args.dist_dir:
        os.makedirs(args.dist_dir, exist_ok=True)
    for i in range(args.first, args.first + args.products):
        entry, info, dist = make_product(i, args.seed, args.dist_base_url)
        products[info["key"]] = entry
        manifest.append(info)
        if args.dist_dir:
            path = os.path.join(args.dist_dir, "%s.English.dist" % info["key"])
            with open(path, "w", encoding="utf-8") as f:
                f.write(dist)

    rng = random.Random(args.seed)
    catalog = {
        "CatalogVersion": 2,
        "ApplePostURL": "http://swpost.apple.com/stats",
        "IndexDate": datetime.datetime(2024, 5, 13, 17, 42, 18) + datetime.timedelta(
            seconds=rng.randrange(86400)),
        "Products": products,
    }
    data = plistlib.dumps(catalog, fmt=plistlib.FMT_XML, sort_keys=False)
    if args.gzip:
        data = gzip.compress(data, compresslevel=6, mtime=0)
    with open(args.out, "wb") as f:
        f.write(data)
    if args.manifest:
        with open(args.manifest, "w", encoding="utf-8") as f:
            json.dump({"products": manifest}, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
