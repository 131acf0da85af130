import type { Migration } from './database.ts';

/**
 * Schema history. Append only: a released migration is never edited, a new one is added.
 * Services contribute their tables here in order.
 */
export const migrations: Migration[] = [
  {
    id: 1,
    name: 'platform: instance settings, IAM users and access keys',
    sql: `
      CREATE TABLE instance (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
      CREATE TABLE iam_users (
        user_id    TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        user_name  TEXT NOT NULL,
        path       TEXT NOT NULL DEFAULT '/',
        arn        TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (account_id, user_name)
      );
      CREATE TABLE access_keys (
        access_key_id  TEXT PRIMARY KEY,
        user_id        TEXT NOT NULL REFERENCES iam_users(user_id),
        secret_wrapped BLOB NOT NULL,
        status         TEXT NOT NULL CHECK (status IN ('Active', 'Inactive')),
        created_at     TEXT NOT NULL
      );
      CREATE INDEX access_keys_by_user ON access_keys(user_id);
    `,
  },
  {
    id: 2,
    name: 'kms: keys, key versions (wrapped backing keys), aliases, tags',
    sql: `
      CREATE TABLE kms_keys (
        key_id                TEXT PRIMARY KEY,
        account_id            TEXT NOT NULL,
        region                TEXT NOT NULL,
        arn                   TEXT NOT NULL UNIQUE,
        description           TEXT NOT NULL DEFAULT '',
        key_state             TEXT NOT NULL,
        key_usage             TEXT NOT NULL,
        key_spec              TEXT NOT NULL,
        origin                TEXT NOT NULL,
        key_manager           TEXT NOT NULL,
        policy                TEXT NOT NULL,
        created_at            INTEGER NOT NULL,
        deletion_at           INTEGER,
        pending_window_days   INTEGER,
        rotation_enabled      INTEGER NOT NULL DEFAULT 0,
        rotation_period_days  INTEGER,
        next_rotation_at      INTEGER,
        on_demand_rotations   INTEGER NOT NULL DEFAULT 0,
        current_version       INTEGER NOT NULL,
        last_used_operation   TEXT,
        last_used_at          INTEGER,
        last_used_request_id  TEXT
      );
      CREATE INDEX kms_keys_by_state ON kms_keys(key_state);
      CREATE TABLE kms_key_versions (
        key_id           TEXT NOT NULL REFERENCES kms_keys(key_id) ON DELETE CASCADE,
        version          INTEGER NOT NULL,
        material_wrapped BLOB NOT NULL,
        created_at       INTEGER NOT NULL,
        rotation_type    TEXT,
        PRIMARY KEY (key_id, version)
      );
      CREATE TABLE kms_aliases (
        account_id     TEXT NOT NULL,
        region         TEXT NOT NULL,
        alias_name     TEXT NOT NULL,
        target_key_id  TEXT NOT NULL REFERENCES kms_keys(key_id) ON DELETE CASCADE,
        created_at     INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL,
        PRIMARY KEY (account_id, region, alias_name)
      );
      CREATE INDEX kms_aliases_by_key ON kms_aliases(target_key_id);
      CREATE TABLE kms_tags (
        key_id    TEXT NOT NULL REFERENCES kms_keys(key_id) ON DELETE CASCADE,
        tag_key   TEXT NOT NULL,
        tag_value TEXT NOT NULL,
        PRIMARY KEY (key_id, tag_key)
      );
    `,
  },
  {
    id: 3,
    name: 'kms: last usage comes from the audit trail, not from key rows',
    sql: `
      ALTER TABLE kms_keys DROP COLUMN last_used_operation;
      ALTER TABLE kms_keys DROP COLUMN last_used_at;
      ALTER TABLE kms_keys DROP COLUMN last_used_request_id;
    `,
  },
  {
    id: 4,
    name: 'kms: imported key material (origin EXTERNAL): expiry and import parameters',
    sql: `
      ALTER TABLE kms_keys ADD COLUMN valid_to INTEGER;
      ALTER TABLE kms_keys ADD COLUMN expiration_model TEXT;
      ALTER TABLE kms_keys ADD COLUMN import_fingerprint_wrapped BLOB;
      CREATE TABLE kms_import_parameters (
        token_hash        TEXT PRIMARY KEY,
        key_id            TEXT NOT NULL REFERENCES kms_keys(key_id) ON DELETE CASCADE,
        wrapping_algorithm TEXT NOT NULL,
        wrapping_key_wrapped BLOB NOT NULL,
        valid_until       INTEGER NOT NULL,
        created_at        INTEGER NOT NULL
      );
    `,
  },
  {
    id: 5,
    name: 's3: buckets, objects, multipart uploads, bucket keys, the SSE-S3 service key',
    sql: `
      CREATE TABLE s3_buckets (
        bucket_name         TEXT PRIMARY KEY,
        account_id          TEXT NOT NULL,
        region              TEXT NOT NULL,
        created_at          INTEGER NOT NULL,
        encryption          TEXT,
        public_access_block TEXT,
        tags                TEXT
      );
      CREATE TABLE s3_objects (
        bucket_name        TEXT NOT NULL REFERENCES s3_buckets(bucket_name),
        object_key         TEXT NOT NULL,
        object_uid         TEXT NOT NULL UNIQUE,
        size               INTEGER NOT NULL,
        etag               TEXT NOT NULL,
        last_modified      INTEGER NOT NULL,
        headers            TEXT NOT NULL,
        checksum_algorithm TEXT,
        checksum_value     TEXT,
        checksum_type      TEXT,
        sse                TEXT NOT NULL,
        kms_key_arn        TEXT,
        kms_context        TEXT,
        bucket_key_id      TEXT,
        service_key_id     TEXT,
        wrapped_key        BLOB NOT NULL,
        ssec_salt          BLOB,
        ssec_check         BLOB,
        segments           TEXT NOT NULL,
        parts_count        INTEGER,
        PRIMARY KEY (bucket_name, object_key)
      );
      CREATE TABLE s3_uploads (
        upload_id          TEXT PRIMARY KEY,
        bucket_name        TEXT NOT NULL REFERENCES s3_buckets(bucket_name),
        object_key         TEXT NOT NULL,
        object_uid         TEXT NOT NULL UNIQUE,
        initiated_at       INTEGER NOT NULL,
        headers            TEXT NOT NULL,
        checksum_algorithm TEXT,
        sse                TEXT NOT NULL,
        kms_key_arn        TEXT,
        kms_context        TEXT,
        bucket_key_id      TEXT,
        service_key_id     TEXT,
        wrapped_key        BLOB NOT NULL,
        ssec_salt          BLOB,
        ssec_check         BLOB
      );
      CREATE INDEX s3_uploads_by_key ON s3_uploads(bucket_name, object_key, initiated_at);
      CREATE TABLE s3_parts (
        upload_id      TEXT NOT NULL REFERENCES s3_uploads(upload_id) ON DELETE CASCADE,
        part_number    INTEGER NOT NULL,
        size           INTEGER NOT NULL,
        etag           TEXT NOT NULL,
        checksum_value TEXT,
        blob_key       TEXT NOT NULL,
        salt           BLOB NOT NULL,
        last_modified  INTEGER NOT NULL,
        PRIMARY KEY (upload_id, part_number)
      );
      CREATE TABLE s3_bucket_keys (
        bucket_key_id TEXT PRIMARY KEY,
        bucket_name   TEXT NOT NULL,
        kms_key_arn   TEXT NOT NULL,
        kms_context   TEXT NOT NULL,
        ciphertext    BLOB NOT NULL,
        created_at    INTEGER NOT NULL
      );
      CREATE INDEX s3_bucket_keys_by_bucket ON s3_bucket_keys(bucket_name, kms_key_arn, created_at);
      CREATE TABLE s3_service_keys (
        service_key_id TEXT PRIMARY KEY,
        wrapped        BLOB NOT NULL,
        created_at     INTEGER NOT NULL
      );
      CREATE TABLE s3_orphan_blobs (
        blob_key   TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL
      );
    `,
  },
  {
    id: 6,
    name: 'cloudtrail: trails, their delivery cursors and digest chains, digest signing keys',
    sql: `
      CREATE TABLE ct_trails (
        name               TEXT PRIMARY KEY,
        arn                TEXT NOT NULL,
        bucket             TEXT NOT NULL,
        prefix             TEXT,
        include_global     INTEGER NOT NULL,
        multi_region       INTEGER NOT NULL,
        validation         INTEGER NOT NULL,
        event_selectors    TEXT,
        created_at         INTEGER NOT NULL,
        is_logging         INTEGER NOT NULL,
        start_logging_at   INTEGER,
        stop_logging_at    INTEGER,
        stop_seq           INTEGER,
        cursor_seq         INTEGER NOT NULL,
        pending_logs       TEXT NOT NULL,
        last_delivery_at   INTEGER,
        last_attempt_at    INTEGER,
        last_delivery_error TEXT,
        chain_start        INTEGER,
        digest_bucket      TEXT,
        digest_key         TEXT,
        digest_hash        TEXT,
        digest_signature   TEXT,
        digest_end         INTEGER,
        last_digest_at     INTEGER,
        last_digest_error  TEXT
      );
      CREATE TABLE ct_signing_keys (
        fingerprint     TEXT PRIMARY KEY,
        region          TEXT NOT NULL,
        public_der      BLOB NOT NULL,
        private_wrapped BLOB NOT NULL,
        valid_from      INTEGER NOT NULL,
        valid_to        INTEGER
      );
      CREATE TABLE ct_delivery_lease (
        id         INTEGER PRIMARY KEY,
        holder     TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      );
    `,
  },
  {
    id: 7,
    name: 'iam: inline user and role policies, roles, STS sessions; the admin user gets AdministratorAccess',
    sql: `
      CREATE TABLE iam_user_policies (
        user_id     TEXT NOT NULL REFERENCES iam_users(user_id) ON DELETE CASCADE,
        policy_name TEXT NOT NULL,
        document    TEXT NOT NULL,
        PRIMARY KEY (user_id, policy_name)
      );
      CREATE TABLE iam_roles (
        role_id              TEXT PRIMARY KEY,
        account_id           TEXT NOT NULL,
        role_name            TEXT NOT NULL,
        path                 TEXT NOT NULL,
        arn                  TEXT NOT NULL,
        assume_role_policy   TEXT NOT NULL,
        description          TEXT,
        max_session_duration INTEGER NOT NULL,
        created_at           TEXT NOT NULL,
        UNIQUE (account_id, role_name)
      );
      CREATE TABLE iam_role_policies (
        role_id     TEXT NOT NULL REFERENCES iam_roles(role_id) ON DELETE CASCADE,
        policy_name TEXT NOT NULL,
        document    TEXT NOT NULL,
        PRIMARY KEY (role_id, policy_name)
      );
      CREATE TABLE sts_sessions (
        access_key_id  TEXT PRIMARY KEY,
        secret_wrapped BLOB NOT NULL,
        token_hash     TEXT NOT NULL,
        role_id        TEXT NOT NULL,
        session_name   TEXT NOT NULL,
        arn            TEXT NOT NULL,
        account_id     TEXT NOT NULL,
        expires_at     INTEGER NOT NULL,
        created_at     INTEGER NOT NULL
      );
      CREATE INDEX sts_sessions_by_expiry ON sts_sessions(expires_at);
      CREATE TABLE kms_grants (
        grant_id          TEXT PRIMARY KEY,
        key_id            TEXT NOT NULL REFERENCES kms_keys(key_id) ON DELETE CASCADE,
        grant_token_hash  TEXT NOT NULL,
        name              TEXT,
        grantee_principal TEXT NOT NULL,
        retiring_principal TEXT,
        issuing_account   TEXT NOT NULL,
        operations        TEXT NOT NULL,
        constraints       TEXT,
        created_at        INTEGER NOT NULL
      );
      CREATE INDEX kms_grants_by_key ON kms_grants(key_id, grantee_principal);
      CREATE INDEX kms_grants_by_retiring ON kms_grants(retiring_principal);
      ALTER TABLE s3_buckets ADD COLUMN policy TEXT;
      INSERT INTO iam_user_policies (user_id, policy_name, document)
        SELECT user_id, 'AdministratorAccess', '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
          FROM iam_users WHERE user_name = 'admin';
    `,
  },
  {
    id: 8,
    name: 'secrets manager: secrets, versions (encrypted under KMS data keys), staging labels, rotation functions',
    sql: `
      CREATE TABLE sm_secrets (
        arn                TEXT PRIMARY KEY,
        name               TEXT NOT NULL UNIQUE,
        description        TEXT,
        kms_key_id         TEXT,
        created_at         INTEGER NOT NULL,
        last_changed_at    INTEGER NOT NULL,
        last_accessed_at   INTEGER,
        deleted_at         INTEGER,
        delete_after       INTEGER,
        rotation_enabled   INTEGER NOT NULL DEFAULT 0,
        rotation_lambda    TEXT,
        rotation_rules     TEXT,
        last_rotated_at    INTEGER,
        next_rotation_at   INTEGER,
        tags               TEXT NOT NULL DEFAULT '[]',
        policy             TEXT
      );
      CREATE INDEX sm_secrets_by_next_rotation ON sm_secrets(next_rotation_at);
      CREATE TABLE sm_versions (
        arn          TEXT NOT NULL REFERENCES sm_secrets(arn) ON DELETE CASCADE,
        version_id   TEXT NOT NULL,
        created_at   INTEGER NOT NULL,
        kms_key_arn  TEXT NOT NULL,
        data_key     BLOB NOT NULL,
        ciphertext   BLOB NOT NULL,
        kind         TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        last_accessed_at INTEGER,
        PRIMARY KEY (arn, version_id)
      );
      CREATE TABLE sm_stages (
        arn        TEXT NOT NULL REFERENCES sm_secrets(arn) ON DELETE CASCADE,
        stage      TEXT NOT NULL,
        version_id TEXT NOT NULL,
        PRIMARY KEY (arn, stage)
      );
      CREATE TABLE sm_rotation_functions (
        arn        TEXT PRIMARY KEY,
        kind       TEXT NOT NULL,
        target     TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
    `,
  },
  {
    id: 9,
    name: 'ssm parameter store: parameters, their versions (SecureString values encrypted under KMS), labels, tags',
    sql: `
      CREATE TABLE ssm_parameters (
        name               TEXT PRIMARY KEY,
        arn                TEXT NOT NULL,
        type               TEXT NOT NULL,
        tier               TEXT NOT NULL,
        data_type          TEXT NOT NULL,
        current_version    INTEGER NOT NULL,
        tags               TEXT NOT NULL DEFAULT '[]',
        last_modified_at   INTEGER NOT NULL,
        last_modified_user TEXT NOT NULL,
        expires_at         INTEGER
      );
      CREATE TABLE ssm_parameter_versions (
        name               TEXT NOT NULL REFERENCES ssm_parameters(name) ON DELETE CASCADE,
        version            INTEGER NOT NULL,
        type               TEXT NOT NULL,
        tier               TEXT NOT NULL,
        data_type          TEXT NOT NULL,
        value              BLOB NOT NULL,
        key_id             TEXT,
        description        TEXT,
        allowed_pattern    TEXT,
        policies           TEXT,
        labels             TEXT NOT NULL DEFAULT '[]',
        last_modified_at   INTEGER NOT NULL,
        last_modified_user TEXT NOT NULL,
        PRIMARY KEY (name, version)
      );
    `,
  },
  {
    id: 10,
    name: 'rekognition: collections (each sealed under a KMS data key), their face vectors (encrypted), users',
    sql: `
      CREATE TABLE rk_collections (
        collection_id TEXT PRIMARY KEY,
        arn           TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        kms_key_arn   TEXT NOT NULL,
        data_key      BLOB NOT NULL,
        tags          TEXT NOT NULL DEFAULT '{}'
      );
      CREATE TABLE rk_faces (
        collection_id     TEXT NOT NULL REFERENCES rk_collections(collection_id) ON DELETE CASCADE,
        face_id           TEXT NOT NULL,
        image_id          TEXT NOT NULL,
        external_image_id TEXT,
        box               TEXT NOT NULL,
        confidence        REAL NOT NULL,
        vector            BLOB NOT NULL,
        user_id           TEXT,
        created_at        INTEGER NOT NULL,
        PRIMARY KEY (collection_id, face_id)
      );
      CREATE TABLE rk_users (
        collection_id TEXT NOT NULL REFERENCES rk_collections(collection_id) ON DELETE CASCADE,
        user_id       TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        PRIMARY KEY (collection_id, user_id)
      );
    `,
  },
  {
    id: 11,
    name: 'cluster: leases for background jobs, face collection generations',
    // Written in SQL that SQLite and PostgreSQL both accept.
    sql: `
      CREATE TABLE cluster_leases (
        name       TEXT PRIMARY KEY,
        holder     TEXT NOT NULL,
        expires_at BIGINT NOT NULL
      );
      ALTER TABLE rk_collections ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
    `,
  },
  {
    id: 12,
    name: 'kms: grants name IAM users and roles by unique id, as AWS does (a principal created again under the same name is not the grantee)',
    sql: `
      ALTER TABLE kms_grants ADD COLUMN grantee_id TEXT;
      ALTER TABLE kms_grants ADD COLUMN retiring_id TEXT;
    `,
  },
  {
    id: 13,
    name: 's3: the multipart upload an object was completed from, so that a repeated CompleteMultipartUpload answers with it',
    sql: `
      ALTER TABLE s3_objects ADD COLUMN upload_id TEXT;
    `,
  },
  {
    id: 14,
    name: 'iam: groups and their members and inline policies, customer managed policies and their versions and attachments, tags on users and roles, permissions boundaries, session policies',
    // Written in SQL that SQLite and PostgreSQL both accept.
    sql: `
      CREATE TABLE iam_groups (
        group_id   TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        group_name TEXT NOT NULL,
        path       TEXT NOT NULL,
        arn        TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (account_id, group_name)
      );
      CREATE TABLE iam_group_members (
        group_id TEXT NOT NULL REFERENCES iam_groups(group_id),
        user_id  TEXT NOT NULL REFERENCES iam_users(user_id),
        PRIMARY KEY (group_id, user_id)
      );
      CREATE INDEX iam_group_members_by_user ON iam_group_members(user_id);
      CREATE TABLE iam_group_policies (
        group_id    TEXT NOT NULL REFERENCES iam_groups(group_id) ON DELETE CASCADE,
        policy_name TEXT NOT NULL,
        document    TEXT NOT NULL,
        PRIMARY KEY (group_id, policy_name)
      );
      CREATE TABLE iam_policies (
        policy_id       TEXT PRIMARY KEY,
        account_id      TEXT NOT NULL,
        policy_name     TEXT NOT NULL,
        path            TEXT NOT NULL,
        arn             TEXT NOT NULL UNIQUE,
        description     TEXT,
        default_version TEXT NOT NULL,
        next_version    INTEGER NOT NULL,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL,
        UNIQUE (account_id, policy_name)
      );
      CREATE TABLE iam_policy_versions (
        policy_id  TEXT NOT NULL REFERENCES iam_policies(policy_id) ON DELETE CASCADE,
        version_id TEXT NOT NULL,
        document   TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (policy_id, version_id)
      );
      CREATE TABLE iam_policy_attachments (
        policy_id   TEXT NOT NULL REFERENCES iam_policies(policy_id),
        entity_type TEXT NOT NULL CHECK (entity_type IN ('user', 'group', 'role')),
        entity_id   TEXT NOT NULL,
        PRIMARY KEY (policy_id, entity_type, entity_id)
      );
      CREATE INDEX iam_policy_attachments_by_entity ON iam_policy_attachments(entity_type, entity_id);
      CREATE TABLE iam_tags (
        entity_type TEXT NOT NULL CHECK (entity_type IN ('user', 'role')),
        entity_id   TEXT NOT NULL,
        tag_key     TEXT NOT NULL,
        tag_value   TEXT NOT NULL,
        PRIMARY KEY (entity_type, entity_id, tag_key)
      );
      ALTER TABLE iam_users ADD COLUMN permissions_boundary TEXT;
      ALTER TABLE iam_roles ADD COLUMN permissions_boundary TEXT;
      ALTER TABLE sts_sessions ADD COLUMN session_policy TEXT;
      ALTER TABLE sts_sessions ADD COLUMN session_policy_arns TEXT;
    `,
  },
  {
    id: 15,
    name: 'kms: key materials as AWS lists them: an id per material, imported material that can be deleted and imported again (material_wrapped NULL meanwhile), material pending rotation, and expiry per material',
    // A table rebuild (material_wrapped loses NOT NULL), in SQL that SQLite and PostgreSQL both accept. Versions made
    // before ids existed keep a NULL key_material_id until KmsJobs fills it from the material itself.
    sql: `
      CREATE TABLE kms_key_versions_next (
        key_id           TEXT NOT NULL REFERENCES kms_keys(key_id) ON DELETE CASCADE,
        version          INTEGER NOT NULL,
        material_wrapped BLOB,
        created_at       INTEGER NOT NULL,
        rotation_type    TEXT,
        rotated_at       INTEGER,
        key_material_id  TEXT,
        description      TEXT,
        expiration_model TEXT,
        valid_to         INTEGER,
        PRIMARY KEY (key_id, version)
      );
      INSERT INTO kms_key_versions_next (key_id, version, material_wrapped, created_at, rotation_type, rotated_at, key_material_id, description, expiration_model, valid_to)
        SELECT v.key_id, v.version, v.material_wrapped, v.created_at, v.rotation_type,
               CASE WHEN v.rotation_type IS NULL THEN NULL ELSE v.created_at END, NULL, NULL,
               CASE WHEN k.origin = 'EXTERNAL' THEN k.expiration_model ELSE NULL END,
               CASE WHEN k.origin = 'EXTERNAL' THEN k.valid_to ELSE NULL END
        FROM kms_key_versions v JOIN kms_keys k ON k.key_id = v.key_id;
      DROP TABLE kms_key_versions;
      ALTER TABLE kms_key_versions_next RENAME TO kms_key_versions;
      CREATE INDEX kms_key_versions_by_expiry ON kms_key_versions(valid_to);
    `,
  },
  {
    id: 16,
    name: "s3: a bucket's CORS configuration, and a multipart upload's checksum type (COMPOSITE or FULL_OBJECT)",
    sql: `
      ALTER TABLE s3_buckets ADD COLUMN cors TEXT;
      ALTER TABLE s3_uploads ADD COLUMN checksum_type TEXT;
    `,
  },
  {
    id: 17,
    name: 's3: object versions (each row one version or delete marker, the latest flagged), object tags, Object Lock retention and legal holds; bucket versioning, Object Lock and lifecycle configurations; tags and Object Lock settings of multipart uploads',
    // A table rebuild (the primary key gains version_id), in SQL that SQLite and PostgreSQL both accept. Objects written
    // before versioning existed are each their key's one version: the null version, and the latest.
    sql: `
      CREATE TABLE s3_objects_next (
        bucket_name        TEXT NOT NULL REFERENCES s3_buckets(bucket_name),
        object_key         TEXT NOT NULL,
        version_id         TEXT NOT NULL,
        version_seq        INTEGER NOT NULL,
        is_latest          INTEGER NOT NULL,
        delete_marker      INTEGER NOT NULL,
        noncurrent_since   INTEGER,
        object_uid         TEXT NOT NULL UNIQUE,
        size               INTEGER NOT NULL,
        etag               TEXT NOT NULL,
        last_modified      INTEGER NOT NULL,
        headers            TEXT NOT NULL,
        checksum_algorithm TEXT,
        checksum_value     TEXT,
        checksum_type      TEXT,
        sse                TEXT NOT NULL,
        kms_key_arn        TEXT,
        kms_context        TEXT,
        bucket_key_id      TEXT,
        service_key_id     TEXT,
        wrapped_key        BLOB NOT NULL,
        ssec_salt          BLOB,
        ssec_check         BLOB,
        segments           TEXT NOT NULL,
        parts_count        INTEGER,
        upload_id          TEXT,
        tags               TEXT,
        lock_mode          TEXT,
        lock_until         INTEGER,
        legal_hold         INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (bucket_name, object_key, version_id)
      );
      INSERT INTO s3_objects_next (bucket_name, object_key, version_id, version_seq, is_latest, delete_marker, noncurrent_since, object_uid, size, etag,
                                   last_modified, headers, checksum_algorithm, checksum_value, checksum_type, sse, kms_key_arn, kms_context,
                                   bucket_key_id, service_key_id, wrapped_key, ssec_salt, ssec_check, segments, parts_count, upload_id)
        SELECT bucket_name, object_key, 'null', 1, 1, 0, NULL, object_uid, size, etag,
               last_modified, headers, checksum_algorithm, checksum_value, checksum_type, sse, kms_key_arn, kms_context,
               bucket_key_id, service_key_id, wrapped_key, ssec_salt, ssec_check, segments, parts_count, upload_id
        FROM s3_objects;
      DROP TABLE s3_objects;
      ALTER TABLE s3_objects_next RENAME TO s3_objects;
      CREATE UNIQUE INDEX s3_objects_latest ON s3_objects(bucket_name, object_key) WHERE is_latest = 1;
      ALTER TABLE s3_buckets ADD COLUMN versioning TEXT;
      ALTER TABLE s3_buckets ADD COLUMN object_lock TEXT;
      ALTER TABLE s3_buckets ADD COLUMN lifecycle TEXT;
      ALTER TABLE s3_uploads ADD COLUMN tags TEXT;
      ALTER TABLE s3_uploads ADD COLUMN object_lock TEXT;
    `,
  },
  {
    id: 18,
    name: "s3: a key's versions in their order (a new version's place, ListObjectVersions, the lifecycle job) without a scan of every version",
    sql: `
      CREATE INDEX s3_objects_by_version ON s3_objects(bucket_name, object_key, version_seq);
    `,
  },
  {
    id: 19,
    name: 'kms: custom key stores (PKCS#11 tokens in place of CloudHSM clusters, external key store proxies), the keys kept in them, and the XKS proxy credentials Trent itself accepts',
    // Secrets (a token PIN, a proxy's secret access key, Trent's own proxy credential) are kept only wrapped by the root of trust.
    sql: `
      CREATE TABLE kms_custom_key_stores (
        custom_key_store_id   TEXT PRIMARY KEY,
        account_id            TEXT NOT NULL,
        region                TEXT NOT NULL,
        name                  TEXT NOT NULL,
        store_type            TEXT NOT NULL,
        connection_state      TEXT NOT NULL,
        connection_error_code TEXT,
        created_at            INTEGER NOT NULL,
        cloud_hsm_cluster_id  TEXT UNIQUE,
        trust_anchor          TEXT,
        password_wrapped      BLOB,
        xks_uri_endpoint      TEXT,
        xks_uri_path          TEXT,
        xks_connectivity      TEXT,
        xks_access_key_id     TEXT,
        xks_secret_wrapped    BLOB,
        UNIQUE (account_id, region, name),
        UNIQUE (account_id, region, xks_uri_endpoint, xks_uri_path)
      );
      ALTER TABLE kms_keys ADD COLUMN custom_key_store_id TEXT;
      ALTER TABLE kms_keys ADD COLUMN xks_key_id TEXT;
      CREATE INDEX kms_keys_by_custom_key_store ON kms_keys(custom_key_store_id);
      CREATE UNIQUE INDEX kms_keys_by_xks_key ON kms_keys(custom_key_store_id, xks_key_id);
      CREATE TABLE kms_xks_proxy_credentials (
        access_key_id  TEXT PRIMARY KEY,
        name           TEXT NOT NULL UNIQUE,
        user_name      TEXT NOT NULL,
        secret_wrapped BLOB NOT NULL,
        created_at     INTEGER NOT NULL
      );
    `,
  },
  {
    id: 20,
    name: 's3: small objects stored inline: their encrypted packages in their own row, not in the blob store',
    // The last column, so that reads of a row's other columns need not touch the pages holding it.
    sql: `
      ALTER TABLE s3_objects ADD COLUMN inline_body BLOB;
    `,
  },
  {
    id: 21,
    name: 'sts: session tags of role sessions (JSON: the tags, and the keys passed on in a role chain)',
    sql: `
      ALTER TABLE sts_sessions ADD COLUMN session_tags TEXT;
    `,
  },
];
