//! Software-update catalog publications: recorded, listed a page at a time,
//! the latest found.

use pippin_store::{MAX_PAGE, NewPublication, Store};
use serde_json::json;

pub fn publication(n: u32) -> NewPublication {
    NewPublication {
        at: 2_000 + i64::from(n),
        reporter: "sup-service".into(),
        catalog_url: format!("https://sup.example.org/catalogs/{n}/wsus.cab"),
        catalog_sha256: format!("{n:064x}"),
        published_at: 1_000 + i64::from(n),
        products: 400 + n,
        packages_published: 12 + n,
        superseded: n,
        expired: n / 2,
        detail: json!({
            "sources": [{
                "url": "https://swscan.apple.com/content/catalogs/others/index-15.merged-1.sucatalog",
                "etag": format!("\"etag-{n}\""),
                "products": 400 + n,
            }],
            "signer": "CN=Pippin SUP signing",
            "warnings": [],
        }),
    }
}

/// Needs a store of its own (lists every publication).
pub async fn sup_publications(s: &dyn Store) {
    assert_eq!(s.latest_publication().await.unwrap(), None);
    assert!(s.list_publications(None, 10).await.unwrap().is_empty());

    let mut ids = Vec::new();
    for n in 0..25 {
        ids.push(s.record_publication(&publication(n)).await.unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    // Every field comes back as given.
    let first = s.list_publications(None, 10).await.unwrap();
    assert_eq!(first.len(), 10);
    assert_eq!(first[0].id, ids[0]);
    assert_eq!(first[0].publication, publication(0));
    assert_eq!(first[9].publication, publication(9));

    // Keyset pages, oldest first, each publication once.
    let mut all = first.clone();
    let mut after = first.last().map(|p| p.id);
    loop {
        let page = s.list_publications(after, 10).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|p| p.id);
        all.extend(page);
    }
    assert_eq!(all.iter().map(|p| p.id).collect::<Vec<_>>(), ids);
    assert_eq!(all[24].publication, publication(24));

    // The latest is the one recorded last, whatever its published_at.
    let latest = s.latest_publication().await.unwrap().unwrap();
    assert_eq!(latest.id, ids[24]);
    assert_eq!(latest.publication, publication(24));
    let mut older = publication(99);
    older.published_at = 1;
    let id = s.record_publication(&older).await.unwrap();
    let latest = s.latest_publication().await.unwrap().unwrap();
    assert_eq!((latest.id, latest.publication), (id, older));

    // The limit is clamped to 1..=MAX_PAGE; after the last id: nothing.
    assert_eq!(s.list_publications(None, 0).await.unwrap().len(), 1);
    assert_eq!(
        s.list_publications(None, MAX_PAGE + 1).await.unwrap().len(),
        26
    );
    assert!(s.list_publications(Some(id), 10).await.unwrap().is_empty());

    // Counts up to u32::MAX and any JSON detail survive.
    let mut big = publication(1);
    big.products = u32::MAX;
    big.expired = u32::MAX;
    big.detail = json!({"nested": {"a": [1, 2.5, null, "é"]}, "empty": {}});
    let id = s.record_publication(&big).await.unwrap();
    let got = s.list_publications(Some(id - 1), 1).await.unwrap();
    assert_eq!(got[0].publication, big);
}
