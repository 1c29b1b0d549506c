-- Software-update catalog publications: one row per signed WSUS catalog
-- sup-service built and reported, newest last (id increases). The store
-- keeps the latest MAX_PUBLICATIONS rows, pruning older ones on insert.
-- detail is JSON text: the sources with their URLs, ETags and product
-- counts, the signer's subject, warnings.
CREATE TABLE sup_publications (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    at                 INTEGER NOT NULL,
    reporter           TEXT    NOT NULL,
    catalog_url        TEXT    NOT NULL,
    catalog_sha256     TEXT    NOT NULL,
    published_at       INTEGER NOT NULL,
    products           INTEGER NOT NULL CHECK (products >= 0),
    packages_published INTEGER NOT NULL CHECK (packages_published >= 0),
    superseded         INTEGER NOT NULL CHECK (superseded >= 0),
    expired            INTEGER NOT NULL CHECK (expired >= 0),
    detail             TEXT    NOT NULL
);
