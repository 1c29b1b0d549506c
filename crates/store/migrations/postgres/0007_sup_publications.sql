-- Software-update catalog publications: one row per signed WSUS catalog
-- sup-service built and reported, newest last (id increases). The store
-- keeps the latest MAX_PUBLICATIONS rows, pruning older ones on insert.
-- detail holds the sources with their URLs, ETags and product counts, the
-- signer's subject, warnings.
CREATE TABLE sup_publications (
    id                 BIGSERIAL PRIMARY KEY,
    at                 BIGINT NOT NULL,
    reporter           TEXT   NOT NULL,
    catalog_url        TEXT   NOT NULL,
    catalog_sha256     TEXT   NOT NULL,
    published_at       BIGINT NOT NULL,
    products           BIGINT NOT NULL CHECK (products >= 0),
    packages_published BIGINT NOT NULL CHECK (packages_published >= 0),
    superseded         BIGINT NOT NULL CHECK (superseded >= 0),
    expired            BIGINT NOT NULL CHECK (expired >= 0),
    detail             JSON   NOT NULL
);
