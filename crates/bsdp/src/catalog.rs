//! The catalogue of NetBoot images a server offers.
//!
//! [`Catalog::new`] builds one from parsed descriptions (no I/O). With the
//! `fs` feature, [`Catalog::scan`] reads an images directory: every
//! `<Name>.nbi` folder's `NBImageInfo.plist`, checking that the booter of
//! each architecture (`<Name>.nbi/<arch>/<BootFile>`) is there. Invalid
//! entries are skipped with a reason, never fatal; [`Fingerprint`] tells
//! cheaply (directory and file modification times) whether a rescan is due.

use std::fmt;

use crate::bsdp::ImageId;
use crate::image_info::ImageInfo;

/// One image of the catalogue: its description and its folder.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct CatalogImage {
    /// The parsed `NBImageInfo.plist`.
    pub info: ImageInfo,
    /// The `.nbi` folder's name (for example `NetInstall.nbi`): booter and
    /// image paths are built from it.
    pub dir_name: String,
}

impl CatalogImage {
    /// The image id.
    pub fn id(&self) -> ImageId {
        self.info.id()
    }
}

/// Why an image was left out of the catalogue.
#[derive(Debug)]
#[non_exhaustive]
pub enum SkipReason {
    /// Its `NBImageInfo.plist` is missing, unreadable, too large or invalid.
    ImageInfo(crate::error::ImageInfoError),
    /// Reading the folder or the description failed.
    Io(std::io::Error),
    /// The description is larger than 1 MiB.
    TooLarge(u64),
    /// A `.nbi` entry that is not a folder.
    NotAFolder,
    /// Another image already has this index.
    DuplicateIndex {
        /// The index.
        index: u16,
        /// The folder that kept it.
        kept: String,
    },
    /// The booter for an architecture is not there.
    MissingBooter(String),
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ImageInfo(e) => write!(f, "NBImageInfo.plist: {e}"),
            Self::Io(e) => write!(f, "cannot read: {e}"),
            Self::TooLarge(n) => write!(f, "NBImageInfo.plist is {n} bytes, over 1 MiB"),
            Self::NotAFolder => f.write_str("not a folder"),
            Self::DuplicateIndex { index, kept } => {
                write!(f, "index {index} is already used by {kept}")
            }
            Self::MissingBooter(p) => write!(f, "missing booter {p}"),
        }
    }
}

/// An image left out, and why.
#[derive(Debug)]
pub struct Skipped {
    /// The `.nbi` folder's name.
    pub dir_name: String,
    /// Why.
    pub reason: SkipReason,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.dir_name, self.reason)
    }
}

/// The images a server offers, ordered by index, each index once.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Catalog {
    images: Vec<CatalogImage>,
}

impl Catalog {
    /// A catalogue of `images`, ordered by index; of several images with
    /// one index the first (in the given order) is kept and the others are
    /// returned as skipped.
    pub fn new(images: Vec<CatalogImage>) -> (Self, Vec<Skipped>) {
        let mut kept: Vec<CatalogImage> = Vec::with_capacity(images.len());
        let mut skipped = Vec::new();
        let mut seen = std::collections::HashMap::new();
        for image in images {
            match seen.get(&image.info.index) {
                Some(&at) => {
                    let other: &CatalogImage = &kept[at];
                    skipped.push(Skipped {
                        dir_name: image.dir_name.clone(),
                        reason: SkipReason::DuplicateIndex {
                            index: image.info.index,
                            kept: other.dir_name.clone(),
                        },
                    });
                }
                None => {
                    seen.insert(image.info.index, kept.len());
                    kept.push(image);
                }
            }
        }
        kept.sort_by_key(|i| i.info.index);
        (Self { images: kept }, skipped)
    }

    /// The images, ordered by index.
    pub fn images(&self) -> &[CatalogImage] {
        &self.images
    }

    /// The image with exactly this id (index and attributes).
    pub fn get(&self, id: ImageId) -> Option<&CatalogImage> {
        self.by_index(id.index()).filter(|i| i.id() == id)
    }

    /// The image with this index.
    pub fn by_index(&self, index: u16) -> Option<&CatalogImage> {
        self.images
            .binary_search_by_key(&index, |i| i.info.index)
            .ok()
            .map(|at| &self.images[at])
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }
}

#[cfg(feature = "fs")]
pub use fs::{Fingerprint, Scan};

#[cfg(feature = "fs")]
mod fs {
    use std::io;
    use std::path::{Path, PathBuf};
    use std::time::SystemTime;

    use super::{Catalog, CatalogImage, SkipReason, Skipped};
    use crate::image_info::ImageInfo;

    const INFO_FILE: &str = "NBImageInfo.plist";
    const INFO_MAX: u64 = 1024 * 1024;

    /// What [`Catalog::scan`] found.
    #[derive(Debug)]
    pub struct Scan {
        /// The usable images.
        pub catalog: Catalog,
        /// The entries left out, with reasons (for the log).
        pub skipped: Vec<Skipped>,
        /// The state of the directory when it was read.
        pub fingerprint: Fingerprint,
    }

    /// Modification times and sizes of an images directory, its `.nbi`
    /// folders, their descriptions and architecture folders: when it
    /// differs from the last scan's, the catalogue may have changed.
    #[derive(Clone, Debug, Default, Eq, PartialEq)]
    pub struct Fingerprint(Vec<(PathBuf, Option<SystemTime>, u64)>);

    impl Fingerprint {
        /// Takes the fingerprint of `dir` (one directory listing per `.nbi`
        /// folder, no file contents read).
        pub fn of(dir: &Path) -> io::Result<Self> {
            let mut marks = Vec::new();
            let mark = |p: &Path, marks: &mut Vec<(PathBuf, Option<SystemTime>, u64)>| {
                if let Ok(m) = std::fs::metadata(p) {
                    marks.push((p.to_path_buf(), m.modified().ok(), m.len()));
                }
            };
            mark(dir, &mut marks);
            for nbi in nbi_entries(dir)? {
                mark(&nbi, &mut marks);
                mark(&nbi.join(INFO_FILE), &mut marks);
                if let Ok(rd) = std::fs::read_dir(&nbi) {
                    let mut subs: Vec<PathBuf> = rd
                        .filter_map(Result::ok)
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .map(|e| e.path())
                        .collect();
                    subs.sort();
                    for s in subs {
                        mark(&s, &mut marks);
                    }
                }
            }
            Ok(Self(marks))
        }
    }

    fn nbi_entries(dir: &Path) -> io::Result<Vec<PathBuf>> {
        let mut out: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| e.eq_ignore_ascii_case("nbi"))
            })
            .collect();
        out.sort();
        Ok(out)
    }

    impl Catalog {
        /// Reads every `<Name>.nbi` folder of `dir`, in name order (of two
        /// folders with one index, the first keeps it). Fails only if `dir`
        /// itself cannot be listed; a bad image is skipped with its reason.
        pub fn scan(dir: &Path) -> io::Result<Scan> {
            // Fingerprint first: a change during the scan shows up next time.
            let fingerprint = Fingerprint::of(dir)?;
            let mut images = Vec::new();
            let mut skipped = Vec::new();
            for path in nbi_entries(dir)? {
                let dir_name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                match read_image(&path) {
                    Ok(info) => images.push(CatalogImage { info, dir_name }),
                    Err(reason) => skipped.push(Skipped { dir_name, reason }),
                }
            }
            let (catalog, dups) = Self::new(images);
            skipped.extend(dups);
            Ok(Scan {
                catalog,
                skipped,
                fingerprint,
            })
        }
    }

    fn read_image(path: &Path) -> Result<ImageInfo, SkipReason> {
        let meta = std::fs::metadata(path).map_err(SkipReason::Io)?;
        if !meta.is_dir() {
            return Err(SkipReason::NotAFolder);
        }
        let info_path = path.join(INFO_FILE);
        let info_meta = std::fs::metadata(&info_path).map_err(SkipReason::Io)?;
        if info_meta.len() > INFO_MAX {
            return Err(SkipReason::TooLarge(info_meta.len()));
        }
        let bytes = std::fs::read(&info_path).map_err(SkipReason::Io)?;
        let info = ImageInfo::parse(&bytes).map_err(SkipReason::ImageInfo)?;
        for arch in &info.architectures {
            if arch.is_empty() || arch.contains(['/', '\\']) || arch == ".." {
                return Err(SkipReason::MissingBooter(format!(
                    "{arch}/{}",
                    info.boot_file
                )));
            }
            let booter = path.join(arch).join(&info.boot_file);
            if !booter.is_file() {
                return Err(SkipReason::MissingBooter(format!(
                    "{arch}/{}",
                    info.boot_file
                )));
            }
        }
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bsdp::ImageKind;
    use crate::image_info::ImageType;

    pub(crate) fn image(index: u16, dir: &str) -> CatalogImage {
        CatalogImage {
            info: ImageInfo {
                index,
                name: format!("Image {index}"),
                image_type: ImageType::Http,
                boot_file: "booter".into(),
                root_path: Some("NetInstall.dmg".into()),
                is_enabled: true,
                is_install: false,
                is_default: false,
                kind: ImageKind::MAC_OS_X,
                architectures: vec!["i386".into()],
                enabled_system_identifiers: vec![],
                disabled_system_identifiers: vec![],
                enabled_mac_addresses: vec![],
                disabled_mac_addresses: vec![],
                filter_only: false,
                load_balance_server: None,
                supports_diskless: false,
                description: None,
            },
            dir_name: dir.into(),
        }
    }

    #[test]
    fn duplicates_are_skipped_and_order_is_by_index() {
        let (c, skipped) = Catalog::new(vec![
            image(7, "b.nbi"),
            image(3, "a.nbi"),
            image(7, "c.nbi"),
        ]);
        assert_eq!(
            c.images().iter().map(|i| i.info.index).collect::<Vec<_>>(),
            vec![3, 7]
        );
        assert_eq!(skipped.len(), 1);
        assert_eq!(
            skipped[0].to_string(),
            "c.nbi: index 7 is already used by b.nbi"
        );
        assert_eq!(c.by_index(7).unwrap().dir_name, "b.nbi");
        assert_eq!(c.get(ImageId(0x0100_0007)).unwrap().dir_name, "b.nbi");
        // Same index, other attributes: not this image.
        assert!(c.get(ImageId(0x8100_0007)).is_none());
        assert!(c.by_index(5).is_none());
        assert_eq!(c.len(), 2);
    }
}
