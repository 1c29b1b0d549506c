//! Software-update catalogs (`.sucatalog`): any bytes, plain XML or gzip.
//! Whatever parses must merge with itself into the same products, each
//! listed by both copies, and answer for its preferred distributions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsus_publish::catalog::{Catalog, CatalogLimits, merge};

fuzz_target!(|data: &[u8]| {
    let mut limits = CatalogLimits::default();
    limits
        .max_input_len(1 << 16)
        .max_xml_len(1 << 20)
        .max_values(50_000)
        .max_products(5_000);
    let Ok(catalog) = Catalog::parse_with(data, &limits) else {
        return;
    };
    for (key, product) in &catalog.products {
        assert_eq!(key, &product.key);
        if !product.distributions.is_empty() {
            assert!(product.preferred_distribution("English").is_some());
            assert!(product.preferred_distribution("xx").is_some());
        }
        let _ = product.total_size();
    }
    let merged = merge([("a", catalog.clone()), ("b", catalog.clone())]);
    assert_eq!(merged.products.len(), catalog.products.len());
    assert_eq!(merged.warnings.len(), 2 * catalog.warnings.len());
    for (key, m) in &merged.products {
        assert_eq!(m.listed_in, [0, 1]);
        let original = &catalog.products[key];
        assert_eq!(m.product.packages.len(), original.packages.len());
        assert_eq!(m.product.distributions, original.distributions);
    }
});
