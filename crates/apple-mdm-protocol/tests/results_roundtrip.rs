//! Every command result survives `to_payload` → plist bytes (XML and binary)
//! → `from_bytes` → `from_payload` unchanged, and `decode_result` dispatches
//! it by request type.

use std::collections::BTreeMap;
use std::fmt::Debug;

use apple_mdm_protocol::results::*;
use pippin_plist::{Date, Dictionary, Value};
use proptest::collection::{btree_map, vec};
use proptest::option::of;
use proptest::prelude::*;

fn check<T: CommandResult + Debug + PartialEq>(
    value: &T,
    wrap: fn(T) -> AnyResult,
) -> Result<(), TestCaseError> {
    let payload = Value::Dictionary(value.to_payload());
    let xml = pippin_plist::to_xml_vec(&payload);
    let binary = pippin_plist::to_binary_vec(&payload).expect("binary encoding");
    for (format, bytes) in [("xml", xml), ("binary", binary)] {
        let read = pippin_plist::from_bytes(&bytes)
            .map_err(|e| TestCaseError::fail(format!("{format}: {e}")))?;
        let Value::Dictionary(dict) = read else {
            return Err(TestCaseError::fail(format!("{format}: not a dict")));
        };
        let decoded = T::from_payload(dict.clone())
            .map_err(|e| TestCaseError::fail(format!("{format}: {e}")))?;
        prop_assert_eq!(&decoded, value, "{}", format);

        let any = decode_result(T::REQUEST_TYPE, dict)
            .map_err(|e| TestCaseError::fail(format!("{format}: {e}")))?
            .expect("a typed result");
        prop_assert_eq!(any.request_type(), T::REQUEST_TYPE);
        prop_assert_eq!(any.to_payload(), value.to_payload());
        prop_assert_eq!(any, wrap(decoded));
    }
    Ok(())
}

// --- leaf strategies -------------------------------------------------------

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,16}"
}

fn s() -> impl Strategy<Value = Option<String>> {
    of(text())
}

fn b() -> impl Strategy<Value = Option<bool>> {
    of(any::<bool>())
}

fn int() -> impl Strategy<Value = Option<i64>> {
    of(any::<i64>())
}

fn uint() -> impl Strategy<Value = Option<u64>> {
    of(any::<u64>())
}

fn real() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("finite", |f| f.is_finite())
}

fn r() -> impl Strategy<Value = Option<f64>> {
    of(real())
}

/// Whole seconds: the XML form has no fraction.
fn date() -> impl Strategy<Value = Date> {
    (-3_000_000_000_i64..5_000_000_000).prop_map(Date::from_unix_seconds)
}

fn d() -> impl Strategy<Value = Option<Date>> {
    of(date())
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..48)
}

fn strings() -> impl Strategy<Value = Option<Vec<String>>> {
    of(vec(text(), 0..4))
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(Value::String),
        any::<bool>().prop_map(Value::Boolean),
        any::<i64>().prop_map(Value::from),
        real().prop_map(Value::Real),
        date().prop_map(Value::Date),
        bytes().prop_map(Value::Data),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map("[A-Za-z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Dictionary(m.into_iter().collect())),
        ]
    })
}

/// Keys no result type names, so they stay in `extra`.
fn extra() -> impl Strategy<Value = Dictionary> {
    btree_map("X-[A-Za-z0-9]{1,10}", value(), 0..3).prop_map(|m| m.into_iter().collect())
}

fn dict() -> impl Strategy<Value = Dictionary> {
    btree_map("[A-Za-z]{1,10}", value(), 0..4).prop_map(|m| m.into_iter().collect())
}

/// A string enum's `Other` must not hold one of its named values.
fn other<T: From<String> + Clone + Debug>(
    known: impl Strategy<Value = T>,
    is_other: fn(&T) -> bool,
) -> impl Strategy<Value = T> {
    prop_oneof![
        known,
        "[a-z ]{1,12}"
            .prop_map(T::from)
            .prop_filter("unknown value", is_other),
    ]
}

// --- DeviceInformation -----------------------------------------------------

fn os_update_settings() -> impl Strategy<Value = OSUpdateSettings> {
    (
        s(),
        b(),
        d(),
        of(prop_oneof![
            text().prop_map(Value::String),
            any::<i64>().prop_map(Value::from)
        ]),
        vec(b(), 6),
        extra(),
    )
        .prop_map(|(catalog_url, is_default, date, result, bools, extra)| {
            let mut b = bools.into_iter();
            OSUpdateSettings {
                catalog_url,
                is_default_catalog: is_default,
                previous_scan_date: date,
                previous_scan_result: result,
                perform_periodic_check: b.next().unwrap(),
                auto_check_enabled: b.next().unwrap(),
                background_download_enabled: b.next().unwrap(),
                automatic_app_installation_enabled: b.next().unwrap(),
                automatic_os_installation_enabled: b.next().unwrap(),
                automatic_security_updates_enabled: b.next().unwrap(),
                extra,
            }
        })
}

fn service_subscription() -> impl Strategy<Value = ServiceSubscription> {
    (vec(s(), 13), vec(b(), 3), extra()).prop_map(|(strings, bools, extra)| {
        let mut s = strings.into_iter();
        let mut b = bools.into_iter();
        ServiceSubscription {
            slot: s.next().unwrap(),
            label: s.next().unwrap(),
            label_id: s.next().unwrap(),
            imei: s.next().unwrap(),
            meid: s.next().unwrap(),
            iccid: s.next().unwrap(),
            eid: s.next().unwrap(),
            phone_number: s.next().unwrap(),
            carrier_settings_version: s.next().unwrap(),
            current_carrier_network: s.next().unwrap(),
            subscriber_carrier_network: s.next().unwrap(),
            current_mcc: s.next().unwrap(),
            current_mnc: s.next().unwrap(),
            is_data_preferred: b.next().unwrap(),
            is_voice_preferred: b.next().unwrap(),
            is_roaming: b.next().unwrap(),
            extra,
        }
    })
}

fn query_responses() -> impl Strategy<Value = QueryResponses> {
    let scalars = (vec(s(), 36), vec(b(), 24), vec(r(), 3), vec(int(), 2), d());
    let nested = (
        of(os_update_settings()),
        strings(),
        of(vec(dict(), 0..3)),
        of(vec(bytes(), 0..3)),
        of(vec(service_subscription(), 0..3)),
        of(dict()),
        of(dict()),
        of(bytes()),
        extra(),
    );
    (scalars, nested).prop_map(
        |(
            (strings, bools, reals, ints, last_backup),
            (osu, users, admins, attestation, subscriptions, org, mdm_options, push, extra),
        )| {
            let mut s = strings.into_iter();
            let mut b = bools.into_iter();
            let mut r = reals.into_iter();
            let mut i = ints.into_iter();
            QueryResponses {
                udid: s.next().unwrap(),
                provisioning_udid: s.next().unwrap(),
                device_name: s.next().unwrap(),
                os_version: s.next().unwrap(),
                build_version: s.next().unwrap(),
                supplemental_build_version: s.next().unwrap(),
                supplemental_os_version_extra: s.next().unwrap(),
                model_name: s.next().unwrap(),
                model: s.next().unwrap(),
                model_number: s.next().unwrap(),
                product_name: s.next().unwrap(),
                serial_number: s.next().unwrap(),
                is_apple_silicon: b.next().unwrap(),
                device_capacity: r.next().unwrap(),
                available_device_capacity: r.next().unwrap(),
                battery_level: r.next().unwrap(),
                has_battery: b.next().unwrap(),
                cellular_technology: i.next().unwrap(),
                imei: s.next().unwrap(),
                meid: s.next().unwrap(),
                iccid: s.next().unwrap(),
                modem_firmware_version: s.next().unwrap(),
                wifi_mac: s.next().unwrap(),
                bluetooth_mac: s.next().unwrap(),
                ethernet_mac: s.next().unwrap(),
                is_supervised: b.next().unwrap(),
                is_multi_user: b.next().unwrap(),
                is_device_locator_service_enabled: b.next().unwrap(),
                is_activation_lock_enabled: b.next().unwrap(),
                is_activation_lock_supported: b.next().unwrap(),
                is_do_not_disturb_in_effect: b.next().unwrap(),
                is_cloud_backup_enabled: b.next().unwrap(),
                last_cloud_backup_date: last_backup,
                is_mdm_lost_mode_enabled: b.next().unwrap(),
                awaiting_configuration: b.next().unwrap(),
                host_name: s.next().unwrap(),
                local_host_name: s.next().unwrap(),
                system_integrity_protection_enabled: b.next().unwrap(),
                os_update_settings: osu,
                active_managed_users: users,
                current_console_managed_user: s.next().unwrap(),
                auto_setup_admin_accounts: admins,
                itunes_store_account_is_active: b.next().unwrap(),
                itunes_store_account_hash: s.next().unwrap(),
                eas_device_identifier: s.next().unwrap(),
                device_id: s.next().unwrap(),
                time_zone: s.next().unwrap(),
                pin_required_for_erase_device: b.next().unwrap(),
                pin_required_for_device_lock: b.next().unwrap(),
                supports_lom_device: b.next().unwrap(),
                supports_ios_app_installs: b.next().unwrap(),
                software_update_device_id: s.next().unwrap(),
                eacs_preflight: s.next().unwrap(),
                device_properties_attestation: attestation,
                service_subscriptions: subscriptions,
                current_carrier_network: s.next().unwrap(),
                subscriber_carrier_network: s.next().unwrap(),
                carrier_settings_version: s.next().unwrap(),
                phone_number: s.next().unwrap(),
                subscriber_mcc: s.next().unwrap(),
                subscriber_mnc: s.next().unwrap(),
                current_mcc: s.next().unwrap(),
                current_mnc: s.next().unwrap(),
                data_roaming_enabled: b.next().unwrap(),
                voice_roaming_enabled: b.next().unwrap(),
                personal_hotspot_enabled: b.next().unwrap(),
                is_network_tethered: b.next().unwrap(),
                is_roaming: b.next().unwrap(),
                diagnostic_submission_enabled: b.next().unwrap(),
                app_analytics_enabled: b.next().unwrap(),
                maximum_resident_users: i.next().unwrap(),
                organization_info: org,
                mdm_options,
                push_token: push,
                extra,
            }
        },
    )
}

fn device_information() -> impl Strategy<Value = DeviceInformationResult> {
    (query_responses(), extra()).prop_map(|(query_responses, extra)| DeviceInformationResult {
        query_responses,
        extra,
    })
}

// --- SecurityInfo ----------------------------------------------------------

fn firewall_settings() -> impl Strategy<Value = FirewallSettings> {
    let app = (s(), s(), b(), extra()).prop_map(|(bundle_id, name, allowed, extra)| {
        FirewallApplication {
            bundle_id,
            name,
            allowed,
            extra,
        }
    });
    (b(), b(), b(), of(vec(app, 0..3)), b(), s(), extra()).prop_map(
        |(enabled, block, stealth, applications, logging, option, extra)| FirewallSettings {
            firewall_enabled: enabled,
            block_all_incoming: block,
            stealth_mode: stealth,
            applications,
            logging_enabled: logging,
            logging_option: option,
            extra,
        },
    )
}

fn secure_boot() -> impl Strategy<Value = SecureBoot> {
    let level = other(
        prop_oneof![
            Just(SecureBootLevel::Off),
            Just(SecureBootLevel::Medium),
            Just(SecureBootLevel::Full),
            Just(SecureBootLevel::NotSupported),
        ],
        |v| matches!(v, SecureBootLevel::Other(_)),
    );
    let external = other(
        prop_oneof![
            Just(ExternalBootLevel::Allowed),
            Just(ExternalBootLevel::Disallowed),
            Just(ExternalBootLevel::NotSupported),
        ],
        |v| matches!(v, ExternalBootLevel::Other(_)),
    );
    (of(level), of(external), strings(), extra()).prop_map(
        |(secure_boot_level, external_boot_level, reduced_security, extra)| SecureBoot {
            secure_boot_level,
            external_boot_level,
            reduced_security,
            extra,
        },
    )
}

fn security_info() -> impl Strategy<Value = SecurityInfoResult> {
    let token = other(
        prop_oneof![
            Just(BootstrapTokenAllowed::Allowed),
            Just(BootstrapTokenAllowed::Disallowed),
            Just(BootstrapTokenAllowed::NotSupported),
        ],
        |v| matches!(v, BootstrapTokenAllowed::Other(_)),
    );
    let firmware = (b(), b(), b(), extra()).prop_map(|(exists, pending, oroms, extra)| {
        FirmwarePasswordStatus {
            password_exists: exists,
            change_pending: pending,
            allow_oroms: oroms,
            extra,
        }
    });
    let management = (b(), b(), b(), b(), extra()).prop_map(|(dep, approved, user, al, extra)| {
        ManagementStatus {
            enrolled_via_dep: dep,
            user_approved_enrollment: approved,
            is_user_enrollment: user,
            is_activation_lock_manageable: al,
            extra,
        }
    });
    let scalars = (vec(b(), 13), vec(int(), 4), of(bytes()), s());
    let nested = (
        of(firewall_settings()),
        of(firmware),
        of(management),
        of(secure_boot()),
        of(token),
        extra(),
        extra(),
    );
    (scalars, nested).prop_map(
        |((bools, ints, cms, device_key), (fw, fwp, ms, sb, token, extra, outer))| {
            let mut b = bools.into_iter();
            let mut i = ints.into_iter();
            SecurityInfoResult {
                security_info: SecurityInfo {
                    hardware_encryption_caps: i.next().unwrap(),
                    passcode_present: b.next().unwrap(),
                    passcode_compliant: b.next().unwrap(),
                    passcode_compliant_with_profiles: b.next().unwrap(),
                    passcode_lock_grace_period: i.next().unwrap(),
                    passcode_lock_grace_period_enforced: i.next().unwrap(),
                    auto_lock_time: i.next().unwrap(),
                    fde_enabled: b.next().unwrap(),
                    fde_has_personal_recovery_key: b.next().unwrap(),
                    fde_has_institutional_recovery_key: b.next().unwrap(),
                    fde_personal_recovery_key_cms: cms,
                    fde_personal_recovery_key_device_key: device_key,
                    system_integrity_protection_enabled: b.next().unwrap(),
                    firewall_settings: fw,
                    firmware_password_status: fwp,
                    management_status: ms,
                    secure_boot: sb,
                    remote_desktop_enabled: b.next().unwrap(),
                    authenticated_root_volume_enabled: b.next().unwrap(),
                    bootstrap_token_allowed_for_authentication: token,
                    bootstrap_token_required_for_software_update: b.next().unwrap(),
                    bootstrap_token_required_for_kernel_extension_approval: b.next().unwrap(),
                    is_recovery_lock_enabled: b.next().unwrap(),
                    extra,
                },
                extra: outer,
            }
        },
    )
}

// --- Applications ----------------------------------------------------------

fn installed_application() -> impl Strategy<Value = InstalledApplication> {
    (vec(s(), 6), vec(uint(), 3), vec(b(), 12), extra()).prop_map(
        |(strings, ints, bools, extra)| {
            let mut s = strings.into_iter();
            let mut u = ints.into_iter();
            let mut b = bools.into_iter();
            InstalledApplication {
                identifier: s.next().unwrap(),
                name: s.next().unwrap(),
                short_version: s.next().unwrap(),
                version: s.next().unwrap(),
                bundle_size: u.next().unwrap(),
                dynamic_size: u.next().unwrap(),
                external_version_identifier: u.next().unwrap(),
                distributor_identifier: s.next().unwrap(),
                is_validated: b.next().unwrap(),
                installing: b.next().unwrap(),
                app_store_vendable: b.next().unwrap(),
                device_based_vpp: b.next().unwrap(),
                beta_app: b.next().unwrap(),
                ad_hoc_code_signed: b.next().unwrap(),
                has_update_available: b.next().unwrap(),
                download_failed: b.next().unwrap(),
                download_waiting: b.next().unwrap(),
                download_paused: b.next().unwrap(),
                download_cancelled: b.next().unwrap(),
                is_app_clip: b.next().unwrap(),
                source: s.next().unwrap(),
                extra,
            }
        },
    )
}

fn installed_application_list() -> impl Strategy<Value = InstalledApplicationListResult> {
    (vec(installed_application(), 0..5), extra()).prop_map(|(applications, extra)| {
        InstalledApplicationListResult {
            applications,
            extra,
        }
    })
}

fn managed_application() -> impl Strategy<Value = ManagedApplication> {
    let status = other(
        prop_oneof![
            Just(ManagedApplicationStatus::Queued),
            Just(ManagedApplicationStatus::NeedsRedemption),
            Just(ManagedApplicationStatus::PromptingForManagement),
            Just(ManagedApplicationStatus::Managed),
            Just(ManagedApplicationStatus::ManagedButUninstalled),
            Just(ManagedApplicationStatus::UserRejected),
            Just(ManagedApplicationStatus::Failed),
        ],
        |v| matches!(v, ManagedApplicationStatus::Other(_)),
    );
    (status, int(), s(), vec(b(), 3), uint(), extra()).prop_map(
        |(status, flags, code, bools, evid, extra)| {
            let mut b = bools.into_iter();
            ManagedApplication {
                status,
                management_flags: flags,
                unused_redemption_code: code,
                has_configuration: b.next().unwrap(),
                has_feedback: b.next().unwrap(),
                is_validated: b.next().unwrap(),
                external_version_identifier: evid,
                extra,
            }
        },
    )
}

fn managed_application_list() -> impl Strategy<Value = ManagedApplicationListResult> {
    (
        btree_map(
            "[a-z]{1,6}(\\.[a-z]{1,6}){0,3}",
            managed_application(),
            0..4,
        ),
        extra(),
    )
        .prop_map(
            |(applications, extra): (BTreeMap<_, _>, _)| ManagedApplicationListResult {
                applications,
                extra,
            },
        )
}

// --- Profiles and certificates ---------------------------------------------

fn payload_content() -> impl Strategy<Value = PayloadContentInfo> {
    (text(), text(), vec(s(), 4), int(), extra()).prop_map(|(ty, id, strings, version, extra)| {
        let mut s = strings.into_iter();
        PayloadContentInfo {
            payload_type: ty,
            payload_identifier: id,
            payload_uuid: s.next().unwrap(),
            payload_version: version,
            payload_display_name: s.next().unwrap(),
            payload_description: s.next().unwrap(),
            payload_organization: s.next().unwrap(),
            extra,
        }
    })
}

fn profile_info() -> impl Strategy<Value = ProfileInfo> {
    (
        (text(), text(), int(), vec(s(), 4), vec(b(), 4)),
        (
            of(vec(payload_content(), 0..3)),
            of(vec(bytes(), 0..3)),
            extra(),
        ),
    )
        .prop_map(
            |((id, uuid, version, strings, bools), (content, signers, extra))| {
                let mut s = strings.into_iter();
                let mut b = bools.into_iter();
                ProfileInfo {
                    payload_identifier: id,
                    payload_uuid: uuid,
                    payload_version: version,
                    payload_display_name: s.next().unwrap(),
                    payload_description: s.next().unwrap(),
                    payload_organization: s.next().unwrap(),
                    payload_removal_disallowed: b.next().unwrap(),
                    has_removal_passcode: b.next().unwrap(),
                    is_encrypted: b.next().unwrap(),
                    is_managed: b.next().unwrap(),
                    source: s.next().unwrap(),
                    payload_content: content,
                    signer_certificates: signers,
                    extra,
                }
            },
        )
}

fn profile_list() -> impl Strategy<Value = ProfileListResult> {
    (vec(profile_info(), 0..4), extra())
        .prop_map(|(profiles, extra)| ProfileListResult { profiles, extra })
}

fn certificate_list() -> impl Strategy<Value = CertificateListResult> {
    let cert = (s(), bytes(), any::<bool>(), extra()).prop_map(
        |(common_name, data, is_identity, extra)| CertificateInfo {
            common_name,
            data,
            is_identity,
            extra,
        },
    );
    (vec(cert, 0..4), extra()).prop_map(|(certificates, extra)| CertificateListResult {
        certificates,
        extra,
    })
}

// --- Software updates ------------------------------------------------------

fn available_os_update() -> impl Strategy<Value = AvailableOSUpdate> {
    (
        (text(), vec(s(), 8), uint(), uint(), strings()),
        (vec(b(), 8), d(), extra()),
    )
        .prop_map(
            |((key, strings, download, install, close), (bools, deferred, extra))| {
                let mut s = strings.into_iter();
                let mut b = bools.into_iter();
                AvailableOSUpdate {
                    product_key: key,
                    human_readable_name: s.next().unwrap(),
                    human_readable_name_locale: s.next().unwrap(),
                    metadata_url: s.next().unwrap(),
                    product_name: s.next().unwrap(),
                    version: s.next().unwrap(),
                    build: s.next().unwrap(),
                    download_size: download,
                    install_size: install,
                    app_identifiers_to_close: close,
                    is_critical: b.next().unwrap(),
                    is_config_data_update: b.next().unwrap(),
                    is_firmware_update: b.next().unwrap(),
                    is_major_os_update: b.next().unwrap(),
                    is_security_response: b.next().unwrap(),
                    restart_required: b.next().unwrap(),
                    allows_install_later: b.next().unwrap(),
                    requires_bootstrap_token: b.next().unwrap(),
                    deferred_until: deferred,
                    supplemental_build_version: s.next().unwrap(),
                    supplemental_os_version_extra: s.next().unwrap(),
                    extra,
                }
            },
        )
}

fn available_os_updates() -> impl Strategy<Value = AvailableOSUpdatesResult> {
    (vec(available_os_update(), 0..4), extra())
        .prop_map(|(updates, extra)| AvailableOSUpdatesResult { updates, extra })
}

fn os_update_status() -> impl Strategy<Value = OSUpdateStatusResult> {
    let status = other(
        prop_oneof![
            Just(OSUpdateStatus::Idle),
            Just(OSUpdateStatus::Downloading),
            Just(OSUpdateStatus::Installing),
        ],
        |v| matches!(v, OSUpdateStatus::Other(_)),
    );
    let item = (
        text(),
        any::<bool>(),
        real(),
        status,
        int(),
        int(),
        d(),
        of(vec(date(), 0..3)),
        extra(),
    )
        .prop_map(
            |(key, downloaded, percent, status, max, remaining, next, past, extra)| {
                OSUpdateStatusItem {
                    product_key: key,
                    is_downloaded: downloaded,
                    download_percent_complete: percent,
                    status,
                    max_deferrals: max,
                    deferrals_remaining: remaining,
                    next_scheduled_install: next,
                    past_notifications: past,
                    extra,
                }
            },
        );
    (vec(item, 0..4), extra())
        .prop_map(|(statuses, extra)| OSUpdateStatusResult { statuses, extra })
}

// --- DeviceLocation --------------------------------------------------------

fn device_location() -> impl Strategy<Value = DeviceLocationResult> {
    (real(), real(), vec(r(), 5), s(), extra()).prop_map(
        |(latitude, longitude, reals, timestamp, extra)| {
            let mut r = reals.into_iter();
            DeviceLocationResult {
                latitude,
                longitude,
                horizontal_accuracy: r.next().unwrap(),
                vertical_accuracy: r.next().unwrap(),
                altitude: r.next().unwrap(),
                speed: r.next().unwrap(),
                course: r.next().unwrap(),
                timestamp,
                extra,
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn device_information_roundtrips(v in device_information()) {
        check(&v, |r| AnyResult::DeviceInformation(Box::new(r)))?;
    }

    #[test]
    fn security_info_roundtrips(v in security_info()) {
        check(&v, |r| AnyResult::SecurityInfo(Box::new(r)))?;
    }

    #[test]
    fn installed_application_list_roundtrips(v in installed_application_list()) {
        check(&v, AnyResult::InstalledApplicationList)?;
    }

    #[test]
    fn managed_application_list_roundtrips(v in managed_application_list()) {
        check(&v, AnyResult::ManagedApplicationList)?;
    }

    #[test]
    fn profile_list_roundtrips(v in profile_list()) {
        check(&v, AnyResult::ProfileList)?;
    }

    #[test]
    fn certificate_list_roundtrips(v in certificate_list()) {
        check(&v, AnyResult::CertificateList)?;
    }

    #[test]
    fn available_os_updates_roundtrips(v in available_os_updates()) {
        check(&v, AnyResult::AvailableOSUpdates)?;
    }

    #[test]
    fn os_update_status_roundtrips(v in os_update_status()) {
        check(&v, AnyResult::OSUpdateStatus)?;
    }

    #[test]
    fn device_location_roundtrips(v in device_location()) {
        check(&v, AnyResult::DeviceLocation)?;
    }

    /// Whatever dictionary arrives, decoding returns a value or an error,
    /// never a panic; what decodes re-encodes to a payload that decodes to
    /// the same value.
    #[test]
    fn arbitrary_payloads_never_panic(kind in 0usize..9, payload in dict(), inner in dict()) {
        const TYPES: [&str; 9] = [
            "DeviceInformation", "SecurityInfo", "InstalledApplicationList",
            "ManagedApplicationList", "ProfileList", "CertificateList",
            "AvailableOSUpdates", "OSUpdateStatus", "DeviceLocation",
        ];
        let mut payload = payload;
        // Give the expected top-level key a dictionary or array some of the time.
        let key = ["QueryResponses", "SecurityInfo", "InstalledApplicationList",
            "ManagedApplicationList", "ProfileList", "CertificateList",
            "AvailableOSUpdates", "OSUpdateStatus", "Latitude"][kind];
        payload.insert(key, Value::Dictionary(inner));
        if let Ok(Some(any)) = decode_result(TYPES[kind], payload) {
            let again = decode_result(TYPES[kind], any.to_payload()).unwrap().unwrap();
            prop_assert_eq!(again, any);
        }
    }
}
