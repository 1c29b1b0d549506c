//! `NBImageInfo.plist` files written by Python's plistlib (an independent
//! writer), XML and binary, parsed and scanned from `.nbi` folders.

use std::net::Ipv4Addr;
use std::path::Path;

use bsdp::{Catalog, Fingerprint, ImageId, ImageInfo, ImageType, SkipReason};
use test_support::{python_ok, require_python, tempdir};

/// Writes an images directory: `sys.argv[1]` is its path.
const WRITE: &str = r#"
import os, plistlib, sys
root = sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read().strip()
def nbi(folder, info, fmt=plistlib.FMT_XML, archs=("i386",), booter="booter", raw=None):
    d = os.path.join(root, folder)
    os.makedirs(d)
    for a in archs:
        os.makedirs(os.path.join(d, a))
        open(os.path.join(d, a, booter), "wb").write(b"\x00" * 64)
    with open(os.path.join(d, "NBImageInfo.plist"), "wb") as f:
        if raw is not None:
            f.write(raw)
        else:
            plistlib.dump(info, f, fmt=fmt)
base = {"Architectures": ["i386"], "BootFile": "booter", "Description": "NetInstall of macOS 10.13.6",
        "Index": 1001, "IsDefault": True, "IsEnabled": True, "IsInstall": True, "Kind": 1,
        "Language": "Default", "Name": "NetInstall 10.13.6", "RootPath": "NetInstall.dmg",
        "SupportsDiskless": False, "Type": "HTTP", "osVersion": "10.13",
        "EnabledSystemIdentifiers": [], "DisabledSystemIdentifiers": [], "EnabledMACAddresses": [],
        "DisabledMACAddresses": []}
nbi("NetInstall.nbi", base)
nbi("Runtime.nbi", dict(base, Index=1002, Name="NFS Runtime", Type="NFS", IsInstall=False,
    IsDefault=False, EnabledSystemIdentifiers=["MacBookPro11,1", "iMac14,2"],
    DisabledSystemIdentifiers=["MacBookAir7,2"], SupportsDiskless=True), fmt=plistlib.FMT_BINARY)
nbi("LB.nbi", dict(base, Index=4097, Name="Load-balanced", IsDefault=False,
    LoadBalanceServer="192.168.56.2", EnabledMACAddresses=["a8:20:66:12:34:56"],
    DisabledMACAddresses=["00:1b:63:01:02:03"], FilterOnly=True), fmt=plistlib.FMT_BINARY)
diag = dict(base, Index=3000, Name="Diagnostics", Type="BootFileOnly", Kind=3, IsInstall=False,
            IsDefault=False, Architectures=["i386", "ppc"])
del diag["RootPath"]
nbi("Diag.nbi", diag, archs=("i386", "ppc"))
nbi("Zero.nbi", dict(base, Index=0, Name="Index zero"))
nbi("Big.nbi", dict(base, Index=70000, Name="Index too large"), fmt=plistlib.FMT_BINARY)
nbi("Str.nbi", dict(base, Index="1004", Name="Index as string"))
nbi("Other.nbi", dict(base, Index=1001, Name="Duplicate index"))
nbi("NoBooter.nbi", dict(base, Index=1010, Name="No booter", Architectures=["i386", "ppc"]))
nbi("Array.nbi", None, raw=plistlib.dumps([1, 2, 3]))
nbi("Garbage.nbi", None, raw=b"\x00\x01not a plist")
open(os.path.join(root, "File.nbi"), "w").write("not a folder")
os.makedirs(os.path.join(root, "NoInfo.nbi"))
os.makedirs(os.path.join(root, "ignored-folder"))
"#;

fn write_images(dir: &Path) {
    python_ok(WRITE, dir.to_str().unwrap().as_bytes());
}

#[test]
fn plistlib_files_parse_with_the_expected_fields() {
    if !require_python(
        "plistlib_files_parse_with_the_expected_fields",
        &["plistlib"],
    ) {
        return;
    }
    let dir = tempdir();
    write_images(dir.path());
    let read = |f: &str| {
        ImageInfo::parse(&std::fs::read(dir.path().join(f).join("NBImageInfo.plist")).unwrap())
    };

    let xml = std::fs::read(dir.path().join("NetInstall.nbi/NBImageInfo.plist")).unwrap();
    assert!(xml.starts_with(b"<?xml"));
    let i = read("NetInstall.nbi").unwrap();
    assert_eq!(i.index, 1001);
    assert_eq!(i.name, "NetInstall 10.13.6");
    assert_eq!(i.image_type, ImageType::Http);
    assert_eq!(i.boot_file, "booter");
    assert_eq!(i.root_path.as_deref(), Some("NetInstall.dmg"));
    assert!(i.is_enabled && i.is_install && i.is_default && !i.filter_only && !i.supports_diskless);
    assert_eq!(i.kind.get(), 1);
    assert_eq!(i.architectures, vec!["i386"]);
    assert_eq!(
        i.description.as_deref(),
        Some("NetInstall of macOS 10.13.6")
    );
    assert_eq!(i.id(), ImageId(0x8100_03e9));

    let bin = std::fs::read(dir.path().join("Runtime.nbi/NBImageInfo.plist")).unwrap();
    assert!(bin.starts_with(b"bplist00"));
    let i = read("Runtime.nbi").unwrap();
    assert_eq!(i.image_type, ImageType::Nfs);
    assert_eq!(
        i.enabled_system_identifiers,
        vec!["MacBookPro11,1", "iMac14,2"]
    );
    assert_eq!(i.disabled_system_identifiers, vec!["MacBookAir7,2"]);
    assert!(i.supports_diskless && !i.is_install && !i.is_default);

    let i = read("LB.nbi").unwrap();
    assert_eq!(i.load_balance_server, Some(Ipv4Addr::new(192, 168, 56, 2)));
    assert_eq!(
        i.enabled_mac_addresses,
        vec![[0xa8, 0x20, 0x66, 0x12, 0x34, 0x56]]
    );
    assert_eq!(
        i.disabled_mac_addresses,
        vec![[0x00, 0x1b, 0x63, 0x01, 0x02, 0x03]]
    );
    assert!(i.filter_only);
    assert!(!i.id().is_local());

    let i = read("Diag.nbi").unwrap();
    assert_eq!(
        (i.image_type, i.kind.get(), i.root_path.clone()),
        (ImageType::BootFileOnly, 3, None)
    );
    assert_eq!(i.architectures, vec!["i386", "ppc"]);

    assert_eq!(
        read("Zero.nbi").unwrap_err().to_string(),
        "Index 0 is outside 1..=65535"
    );
    assert_eq!(
        read("Big.nbi").unwrap_err().to_string(),
        "Index 70000 is outside 1..=65535"
    );
    assert_eq!(
        read("Str.nbi").unwrap_err().to_string(),
        "key Index is not an integer"
    );
    assert_eq!(
        read("Array.nbi").unwrap_err().to_string(),
        "the root is not a dictionary"
    );
}

#[test]
fn scan_keeps_valid_images_and_says_why_others_were_skipped() {
    if !require_python(
        "scan_keeps_valid_images_and_says_why_others_were_skipped",
        &["plistlib"],
    ) {
        return;
    }
    let dir = tempdir();
    write_images(dir.path());
    let scan = Catalog::scan(dir.path()).unwrap();
    let kept: Vec<(u16, &str)> = scan
        .catalog
        .images()
        .iter()
        .map(|i| (i.info.index, i.dir_name.as_str()))
        .collect();
    assert_eq!(
        kept,
        vec![
            (1001, "NetInstall.nbi"),
            (1002, "Runtime.nbi"),
            (3000, "Diag.nbi"),
            (4097, "LB.nbi")
        ]
    );
    let mut skipped: Vec<String> = scan
        .skipped
        .iter()
        .filter(|s| s.dir_name != "Garbage.nbi" && s.dir_name != "NoInfo.nbi")
        .map(ToString::to_string)
        .collect();
    skipped.sort();
    assert_eq!(
        skipped,
        vec![
            "Array.nbi: NBImageInfo.plist: the root is not a dictionary",
            "Big.nbi: NBImageInfo.plist: Index 70000 is outside 1..=65535",
            "File.nbi: not a folder",
            "NoBooter.nbi: missing booter ppc/booter",
            "Other.nbi: index 1001 is already used by NetInstall.nbi",
            "Str.nbi: NBImageInfo.plist: key Index is not an integer",
            "Zero.nbi: NBImageInfo.plist: Index 0 is outside 1..=65535",
        ]
    );
    let garbage = scan
        .skipped
        .iter()
        .find(|s| s.dir_name == "Garbage.nbi")
        .unwrap();
    assert!(matches!(
        garbage.reason,
        SkipReason::ImageInfo(bsdp::ImageInfoError::Plist(_))
    ));
    let no_info = scan
        .skipped
        .iter()
        .find(|s| s.dir_name == "NoInfo.nbi")
        .unwrap();
    assert!(matches!(no_info.reason, SkipReason::Io(_)));
    assert_eq!(scan.skipped.len(), 9);

    // Nothing changed: same fingerprint. A touched description: different.
    assert_eq!(Fingerprint::of(dir.path()).unwrap(), scan.fingerprint);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let info = dir.path().join("NetInstall.nbi/NBImageInfo.plist");
    let mut bytes = std::fs::read(&info).unwrap();
    bytes.extend_from_slice(b"\n");
    std::fs::write(&info, bytes).unwrap();
    assert_ne!(Fingerprint::of(dir.path()).unwrap(), scan.fingerprint);
    // A booter appearing (a new architecture folder) changes it too.
    let before = Fingerprint::of(dir.path()).unwrap();
    std::fs::create_dir(dir.path().join("NoBooter.nbi/ppc")).unwrap();
    std::fs::write(dir.path().join("NoBooter.nbi/ppc/booter"), b"x").unwrap();
    assert_ne!(Fingerprint::of(dir.path()).unwrap(), before);
    let rescan = Catalog::scan(dir.path()).unwrap();
    assert!(rescan.catalog.by_index(1010).is_some());

    // A directory that is not there is an error, not a panic.
    assert!(Catalog::scan(&dir.path().join("missing")).is_err());
}
