// Mirrors migrations/; `diesel print-schema` output, kept by hand-checked tests.

diesel::table! {
    audit_events (id) {
        id -> Int8,
        occurred_at -> Timestamptz,
        actor -> Text,
        action -> Text,
        target -> Nullable<Text>,
        outcome -> Text,
        source_ip -> Nullable<Text>,
        request_id -> Nullable<Text>,
        details -> Jsonb,
        policy_version -> Nullable<Text>,
        mac -> Nullable<Bytea>,
    }
}

diesel::table! {
    audit_leaves (leaf_index) {
        leaf_index -> Int8,
        event_id -> Int8,
        leaf_hash -> Bytea,
        integrated_at -> Timestamptz,
    }
}

diesel::table! {
    audit_compactions (id) {
        id -> Int8,
        up_to_leaf -> Int8,
        archive_sha256 -> Bytea,
        note -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    audit_verifications (id) {
        id -> Int8,
        ran_at -> Timestamptz,
        entries -> Int8,
        checkpoints -> Int8,
        pending -> Int8,
        clean -> Bool,
        problems -> Jsonb,
    }
}

diesel::table! {
    audit_checkpoints (id) {
        id -> Int8,
        tree_size -> Int8,
        root_hash -> Bytea,
        note -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    sessions (token_hash) {
        token_hash -> Bytea,
        id -> Uuid,
        user_id -> Uuid,
        created_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        expires_at -> Timestamptz,
        client_ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        reauthenticated_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    stored_credentials (id) {
        id -> Uuid,
        name -> Text,
        kind -> Text,
        description -> Text,
        value_sealed -> Text,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        replaced_at -> Timestamptz,
        expires_at -> Nullable<Timestamptz>,
        rotate_every_days -> Nullable<Int4>,
        last_revealed_at -> Nullable<Timestamptz>,
        last_revealed_by -> Nullable<Uuid>,
    }
}

diesel::table! {
    vault_keks (id) {
        id -> Int4,
        fingerprint -> Text,
        created_at -> Timestamptz,
        retired_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    setup_links (token_hash) {
        token_hash -> Bytea,
        user_id -> Uuid,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        password_hash -> Nullable<Text>,
        role -> Text,
        created_at -> Timestamptz,
        password_changed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    alerts (id) {
        id -> Int8,
        key -> Text,
        severity -> Text,
        summary -> Text,
        detail -> Text,
        raised_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        occurrences -> Int4,
        notified_at -> Nullable<Timestamptz>,
        resolved_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    backup_drills (id) {
        id -> Int8,
        backup_id -> Uuid,
        target -> Text,
        started_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        outcome -> Text,
        detail -> Jsonb,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    backup_runs (id) {
        id -> Uuid,
        target -> Text,
        trigger -> Text,
        catch_up -> Bool,
        started_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        outcome -> Text,
        stored_bytes -> Nullable<Int8>,
        plaintext_bytes -> Nullable<Int8>,
        error -> Nullable<Text>,
        manifest -> Nullable<Jsonb>,
        pruned_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    exports (id) {
        id -> Uuid,
        requested_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        status -> Text,
        bytes -> Nullable<Int8>,
        error -> Nullable<Text>,
        include_secrets -> Bool,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    cancellations (id) {
        id -> Uuid,
        requested_at -> Timestamptz,
        effective_at -> Timestamptz,
        window_closes_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        export_id -> Nullable<Uuid>,
        destroyed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    findings (fingerprint) {
        fingerprint -> Text,
        check_id -> Text,
        subject -> Text,
        severity -> Text,
        title -> Text,
        evidence -> Text,
        first_seen -> Timestamptz,
        last_seen -> Timestamptz,
        resolved_at -> Nullable<Timestamptz>,
        auto_fixed -> Bool,
        reopened -> Int4,
    }
}

diesel::table! {
    fleet_enrolment (satellite_id) {
        satellite_id -> Uuid,
        controller_url -> Text,
        secret_sealed -> Text,
        interval_secs -> Int8,
        enrolled_at -> Timestamptz,
        only_one -> Bool,
    }
}

diesel::table! {
    finding_episodes (id) {
        id -> Int8,
        fingerprint -> Text,
        severity -> Text,
        opened_at -> Timestamptz,
        resolved_at -> Nullable<Timestamptz>,
        auto_fixed -> Bool,
    }
}

diesel::table! {
    scans (id) {
        id -> Int8,
        started_at -> Timestamptz,
        finished_at -> Timestamptz,
        trigger -> Text,
        outpost_version -> Text,
        checks -> Jsonb,
        open_by_severity -> Jsonb,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(setup_links -> users (user_id));

diesel::table! {
    access_snapshots (subject) {
        subject -> Text,
        grants -> Array<Text>,
        taken_at -> Timestamptz,
        grew_from -> Nullable<Array<Text>>,
        grew_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Uuid,
        user_id -> Uuid,
        name -> Text,
        display_prefix -> Text,
        key_hash -> Bytea,
        capabilities -> Array<Text>,
        created_at -> Timestamptz,
        expires_at -> Nullable<Timestamptz>,
        last_used_at -> Nullable<Timestamptz>,
        last_used_ip -> Nullable<Text>,
        revoked_at -> Nullable<Timestamptz>,
        replaced_by -> Nullable<Uuid>,
    }
}

diesel::table! {
    api_key_networks (key_id, network) {
        key_id -> Uuid,
        network -> Text,
        first_seen -> Timestamptz,
        last_seen -> Timestamptz,
        uses -> Int8,
    }
}

diesel::table! {
    api_responses (minute, class) {
        minute -> Timestamptz,
        class -> Text,
        responses -> Int8,
    }
}

diesel::table! {
    harden_requests (id) {
        id -> Uuid,
        control -> Text,
        requested_by -> Text,
        reason -> Text,
        requested_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        outcome -> Nullable<Text>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    host_checks (control) {
        control -> Text,
        status -> Text,
        drift -> Jsonb,
        error -> Nullable<Text>,
        root -> Text,
        checked_at -> Timestamptz,
        applied_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    invitations (id) {
        id -> Uuid,
        token_hash -> Bytea,
        email -> Text,
        role -> Text,
        invited_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        approved_at -> Nullable<Timestamptz>,
        accepted_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    login_throttle (subject) {
        subject -> Text,
        failures -> Int4,
        last_failure_at -> Timestamptz,
        blocked_until -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    mfa_challenges (token_hash) {
        token_hash -> Bytea,
        user_id -> Uuid,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        attempts -> Int4,
    }
}

diesel::table! {
    org_policy (singleton) {
        singleton -> Bool,
        mfa_required_roles -> Array<Text>,
        updated_at -> Timestamptz,
        updated_by -> Nullable<Uuid>,
    }
}

diesel::table! {
    settings (id) {
        id -> Uuid,
        key -> Text,
        value -> Nullable<Jsonb>,
        value_sealed -> Nullable<Text>,
        changed_by -> Nullable<Uuid>,
        changed_at -> Timestamptz,
    }
}

diesel::table! {
    recovery_codes (id) {
        id -> Int8,
        user_id -> Uuid,
        code_hash -> Bytea,
        created_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    role_grants (id) {
        id -> Uuid,
        user_id -> Nullable<Uuid>,
        invitation_id -> Nullable<Uuid>,
        role -> Text,
        requested_by -> Uuid,
        requested_at -> Timestamptz,
        status -> Text,
        decided_by -> Nullable<Uuid>,
        decided_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    totp_credentials (user_id) {
        user_id -> Uuid,
        secret_sealed -> Text,
        created_at -> Timestamptz,
        confirmed_at -> Nullable<Timestamptz>,
        last_step -> Nullable<Int8>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Uuid,
        endpoint_id -> Uuid,
        event_type -> Text,
        message_id -> Text,
        payload -> Jsonb,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Nullable<Timestamptz>,
        last_status -> Nullable<Int4>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        delivered_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Uuid,
        url -> Text,
        description -> Text,
        events -> Array<Text>,
        secret_sealed -> Text,
        created_by -> Nullable<Uuid>,
        enabled -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(api_key_networks -> api_keys (key_id));
diesel::joinable!(api_keys -> users (user_id));
diesel::joinable!(finding_episodes -> findings (fingerprint));
diesel::joinable!(cancellations -> exports (export_id));
diesel::joinable!(mfa_challenges -> users (user_id));
diesel::joinable!(recovery_codes -> users (user_id));
diesel::joinable!(totp_credentials -> users (user_id));
diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));

// No foreign key any more (leaves outlive archived entries), but the relation holds.
diesel::joinable!(audit_leaves -> audit_events (event_id));

diesel::table! {
    fleet_enrolment_tokens (id) {
        id -> Uuid,
        token_sha256 -> Bytea,
        name -> Text,
        client -> Text,
        region -> Nullable<Text>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        satellite_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    fleet_satellites (id) {
        id -> Uuid,
        name -> Text,
        client -> Text,
        region -> Nullable<Text>,
        provisioned_at -> Timestamptz,
        version -> Text,
        secret_sealed -> Text,
        last_report_at -> Nullable<Timestamptz>,
        status -> Text,
        maintenance_until -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    fleet_heartbeats (id) {
        id -> Int8,
        satellite_id -> Uuid,
        report_id -> Uuid,
        taken_at -> Timestamptz,
        received_at -> Timestamptz,
        cpu_percent -> Float4,
        memory_percent -> Float4,
        worst_disk_percent -> Float4,
        report -> Jsonb,
    }
}

diesel::table! {
    fleet_heartbeat_rollups (satellite_id, hour) {
        satellite_id -> Uuid,
        hour -> Timestamptz,
        samples -> Int4,
        cpu_avg -> Float4,
        cpu_max -> Float4,
        memory_avg -> Float4,
        memory_max -> Float4,
        disk_avg -> Float4,
        disk_max -> Float4,
    }
}

diesel::table! {
    fleet_report_ids (report_id) {
        report_id -> Uuid,
        satellite_id -> Uuid,
        received_at -> Timestamptz,
    }
}

diesel::table! {
    fleet_alerts (id) {
        id -> Int8,
        satellite_id -> Uuid,
        rule -> Text,
        detail -> Text,
        opened_at -> Timestamptz,
        last_notified_at -> Nullable<Timestamptz>,
        resolved_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(fleet_heartbeats -> fleet_satellites (satellite_id));
diesel::joinable!(fleet_alerts -> fleet_satellites (satellite_id));

diesel::allow_tables_to_appear_in_same_query!(
    fleet_alerts,
    fleet_enrolment_tokens,
    fleet_heartbeat_rollups,
    fleet_heartbeats,
    fleet_report_ids,
    fleet_satellites,
    access_snapshots,
    alerts,
    api_key_networks,
    api_keys,
    api_responses,
    audit_checkpoints,
    audit_compactions,
    audit_events,
    audit_leaves,
    audit_verifications,
    backup_drills,
    backup_runs,
    cancellations,
    exports,
    finding_episodes,
    findings,
    fleet_enrolment,
    harden_requests,
    host_checks,
    invitations,
    login_throttle,
    mfa_challenges,
    org_policy,
    recovery_codes,
    role_grants,
    scans,
    settings,
    totp_credentials,
    sessions,
    setup_links,
    stored_credentials,
    users,
    vault_keks,
    webhook_deliveries,
    webhook_endpoints,
);
