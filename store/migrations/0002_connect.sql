-- The connect side: provide keys, transfer balances, contracts and their escrow,
-- provider earnings and peer audits. Byte counts are BIGINT.

-- Provide secrets are sealed (AES-GCM under a server key) before they are stored.
CREATE TABLE provide_key (
    client_id     TEXT NOT NULL,
    provide_mode  INTEGER NOT NULL,
    secret_sealed {{BYTES}} NOT NULL,
    PRIMARY KEY (client_id, provide_mode)
);

CREATE TABLE transfer_balance (
    balance_id    TEXT PRIMARY KEY,
    network_id    TEXT NOT NULL,
    start_time    BIGINT NOT NULL,
    end_time      BIGINT NOT NULL,
    start_bytes   BIGINT NOT NULL,
    balance_bytes BIGINT NOT NULL,
    create_time   BIGINT NOT NULL
);

CREATE INDEX transfer_balance_network ON transfer_balance (network_id, end_time);

-- status is open, settled or disputed.
CREATE TABLE transfer_contract (
    contract_id            TEXT PRIMARY KEY,
    source_network_id      TEXT NOT NULL,
    source_id              TEXT NOT NULL,
    destination_network_id TEXT NOT NULL,
    destination_id         TEXT NOT NULL,
    transfer_bytes         BIGINT NOT NULL,
    provide_mode           INTEGER NOT NULL,
    escrowed               BOOLEAN NOT NULL,
    status                 TEXT NOT NULL,
    create_time            BIGINT NOT NULL,
    source_acked           BIGINT,
    destination_acked      BIGINT,
    used_bytes             BIGINT,
    close_time             BIGINT
);

CREATE INDEX transfer_contract_source ON transfer_contract (source_id, create_time);
CREATE INDEX transfer_contract_destination ON transfer_contract (destination_id, create_time);

CREATE TABLE contract_escrow (
    contract_id  TEXT NOT NULL,
    balance_id   TEXT NOT NULL,
    escrow_bytes BIGINT NOT NULL,
    PRIMARY KEY (contract_id, balance_id)
);

CREATE TABLE provider_earning (
    contract_id  TEXT PRIMARY KEY,
    network_id   TEXT NOT NULL,
    earned_bytes BIGINT NOT NULL,
    create_time  BIGINT NOT NULL
);

CREATE INDEX provider_earning_network ON provider_earning (network_id, create_time);

CREATE TABLE peer_audit (
    audit_id         TEXT PRIMARY KEY,
    client_id        TEXT NOT NULL,
    peer_id          TEXT NOT NULL,
    duration_seconds BIGINT NOT NULL,
    abuse            BOOLEAN NOT NULL,
    counters         TEXT NOT NULL,
    create_time      BIGINT NOT NULL
);

CREATE INDEX peer_audit_peer ON peer_audit (peer_id, create_time);
