//! Every typed command, and raw ones, survive encoding to XML and binary
//! property lists and decoding back, unknown keys included.

use apple_mdm_protocol::command::*;
use pippin_plist::{Date, Dictionary, Value};
use proptest::collection::{btree_map, vec};
use proptest::option::of;
use proptest::prelude::*;

/// Text that an XML property list can carry (no control characters).
fn text() -> impl Strategy<Value = String> {
    "\\PC{0,16}"
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    of(text())
}

fn texts() -> impl Strategy<Value = Vec<String>> {
    vec(text(), 0..4)
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..48)
}

/// Any plist value an XML document can hold exactly: no UIDs, reals that
/// are finite, dates on whole seconds.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::Boolean),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::Real),
        text().prop_map(Value::String),
        bytes().prop_map(Value::Data),
        (-4_000_000_000i64..8_000_000_000i64).prop_map(|s| Value::Date(Date::from_unix_seconds(s))),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(text(), inner, 0..4).prop_map(|m| Value::Dictionary(m.into_iter().collect())),
        ]
    })
}

/// Keys no command knows (Apple's keys never start with `x-`), with values.
fn extra() -> impl Strategy<Value = Dictionary> {
    btree_map("x-[A-Za-z0-9]{1,8}", value(), 0..3).prop_map(|m| m.into_iter().collect())
}

fn any_dict() -> impl Strategy<Value = Dictionary> {
    btree_map("[A-Za-z][A-Za-z0-9]{0,8}", value(), 0..4).prop_map(|m| m.into_iter().collect())
}

/// One of `known`, or a value Apple might add later.
fn open_enum<E: From<String> + std::fmt::Debug>(
    known: &'static [&'static str],
) -> impl Strategy<Value = E> {
    prop_oneof![
        proptest::sample::select(known).prop_map(|s| E::from(s.to_owned())),
        "Future[A-Za-z]{0,8}".prop_map(E::from),
    ]
}

fn device_information() -> impl Strategy<Value = DeviceInformation> {
    (texts(), of(vec(any::<u8>(), 0..33)), extra()).prop_map(|(queries, nonce, extra)| {
        DeviceInformation {
            queries,
            device_attestation_nonce: nonce,
            extra,
        }
    })
}

fn installed_application_list() -> impl Strategy<Value = InstalledApplicationList> {
    (of(texts()), of(any::<bool>()), of(texts()), extra()).prop_map(
        |(identifiers, managed_apps_only, items, extra)| InstalledApplicationList {
            identifiers,
            managed_apps_only,
            items,
            extra,
        },
    )
}

fn managed_application_list() -> impl Strategy<Value = ManagedApplicationList> {
    (of(texts()), extra())
        .prop_map(|(identifiers, extra)| ManagedApplicationList { identifiers, extra })
}

fn profile_list() -> impl Strategy<Value = ProfileList> {
    (of(any::<bool>()), extra()).prop_map(|(managed_only, extra)| ProfileList {
        managed_only,
        extra,
    })
}

fn certificate_list() -> impl Strategy<Value = CertificateList> {
    (of(any::<bool>()), extra()).prop_map(|(managed_only, extra)| CertificateList {
        managed_only,
        extra,
    })
}

fn install_profile() -> impl Strategy<Value = InstallProfile> {
    (bytes(), extra()).prop_map(|(payload, extra)| InstallProfile { payload, extra })
}

fn remove_profile() -> impl Strategy<Value = RemoveProfile> {
    (text(), extra()).prop_map(|(identifier, extra)| RemoveProfile { identifier, extra })
}

fn attributes() -> impl Strategy<Value = ApplicationAttributes> {
    (
        (opt_text(), opt_text(), opt_text(), opt_text(), of(texts())),
        (
            of(any::<bool>()),
            of(any::<bool>()),
            of(any::<bool>()),
            opt_text(),
            of(any::<bool>()),
            of(any::<bool>()),
        ),
        extra(),
    )
        .prop_map(
            |(
                (vpn_uuid, content_filter_uuid, dns_proxy_uuid, relay_uuid, associated_domains),
                (direct, removable, tap_to_pay, cellular_slice_uuid, hideable, lockable),
                extra,
            )| ApplicationAttributes {
                vpn_uuid,
                content_filter_uuid,
                dns_proxy_uuid,
                relay_uuid,
                associated_domains,
                associated_domains_enable_direct_downloads: direct,
                removable,
                tap_to_pay_screen_lock: tap_to_pay,
                cellular_slice_uuid,
                hideable,
                lockable,
                extra,
            },
        )
}

fn install_application() -> impl Strategy<Value = InstallApplication> {
    let source = prop_oneof![
        any::<u64>().prop_map(|id| (Some(id), None, None)),
        text().prop_map(|id| (None, Some(id), None)),
        text().prop_map(|url| (None, None, Some(url))),
        (any::<u64>(), text(), text()).prop_map(|(a, b, c)| (Some(a), Some(b), Some(c))),
    ];
    let options = (
        of(prop_oneof![
            Just(PurchaseMethod::Free),
            Just(PurchaseMethod::VolumePurchase),
            any::<i64>().prop_map(PurchaseMethod::from),
        ]),
        extra(),
    )
        .prop_map(|(purchase_method, extra)| InstallApplicationOptions {
            purchase_method,
            extra,
        });
    (
        source,
        of(options),
        of(any::<u64>().prop_map(ManagementFlags)),
        of(any_dict()),
        of(attributes()),
        of(open_enum::<ChangeManagementState>(&["Managed"])),
        of(any::<bool>()),
        of(any::<bool>()),
        extra(),
    )
        .prop_map(
            |(
                (itunes_store_id, identifier, manifest_url),
                options,
                management_flags,
                configuration,
                attributes,
                change_management_state,
                install_as_managed,
                ios_app,
                extra,
            )| {
                let mut app = InstallApplication::by_identifier("placeholder");
                app.itunes_store_id = itunes_store_id;
                app.identifier = identifier;
                app.manifest_url = manifest_url;
                app.options = options;
                app.management_flags = management_flags;
                app.configuration = configuration;
                app.attributes = attributes;
                app.change_management_state = change_management_state;
                app.install_as_managed = install_as_managed;
                app.ios_app = ios_app;
                app.extra = extra;
                app
            },
        )
}

fn remove_application() -> impl Strategy<Value = RemoveApplication> {
    (text(), extra()).prop_map(|(identifier, extra)| RemoveApplication { identifier, extra })
}

fn device_lock() -> impl Strategy<Value = DeviceLock> {
    (opt_text(), opt_text(), opt_text(), extra()).prop_map(|(pin, message, phone_number, extra)| {
        DeviceLock {
            pin,
            message,
            phone_number,
            extra,
        }
    })
}

fn erase_device() -> impl Strategy<Value = EraseDevice> {
    let rts = (any::<bool>(), of(bytes()), of(bytes()), extra()).prop_map(
        |(enabled, wifi_profile_data, mdm_profile_data, extra)| ReturnToService {
            enabled,
            wifi_profile_data,
            mdm_profile_data,
            extra,
        },
    );
    (
        opt_text(),
        of(any::<bool>()),
        of(any::<bool>()),
        of(open_enum::<ObliterationBehavior>(&[
            "Default",
            "DoNotObliterate",
            "ObliterateWithWarning",
            "Always",
        ])),
        of(rts),
        extra(),
    )
        .prop_map(
            |(pin, preserve, disallow, obliteration_behavior, return_to_service, extra)| {
                EraseDevice {
                    pin,
                    preserve_data_plan: preserve,
                    disallow_proximity_setup: disallow,
                    obliteration_behavior,
                    return_to_service,
                    extra,
                }
            },
        )
}

fn clear_passcode() -> impl Strategy<Value = ClearPasscode> {
    (bytes(), extra()).prop_map(|(unlock_token, extra)| ClearPasscode {
        unlock_token,
        extra,
    })
}

fn restart_device() -> impl Strategy<Value = RestartDevice> {
    (of(any::<bool>()), of(any::<bool>()), of(texts()), extra()).prop_map(
        |(notify_user, rebuild_kernel_cache, kext_paths, extra)| RestartDevice {
            notify_user,
            rebuild_kernel_cache,
            kext_paths,
            extra,
        },
    )
}

fn enable_lost_mode() -> impl Strategy<Value = EnableLostMode> {
    let shown = prop_oneof![
        text().prop_map(|m| (Some(m), None)),
        text().prop_map(|p| (None, Some(p))),
        (text(), text()).prop_map(|(m, p)| (Some(m), Some(p))),
    ];
    (shown, opt_text(), extra()).prop_map(|((message, phone_number), footnote, extra)| {
        let mut cmd = EnableLostMode::new("placeholder");
        cmd.message = message;
        cmd.phone_number = phone_number;
        cmd.footnote = footnote;
        cmd.extra = extra;
        cmd
    })
}

fn schedule_os_update_scan() -> impl Strategy<Value = ScheduleOSUpdateScan> {
    (of(any::<bool>()), extra()).prop_map(|(force, extra)| ScheduleOSUpdateScan { force, extra })
}

fn schedule_os_update() -> impl Strategy<Value = ScheduleOSUpdate> {
    let item = (
        opt_text(),
        opt_text(),
        open_enum::<InstallAction>(&[
            "Default",
            "DownloadOnly",
            "InstallASAP",
            "NotifyOnly",
            "InstallLater",
            "InstallForceRestart",
        ]),
        of(any::<u64>()),
        of(open_enum::<UpdatePriority>(&["Low", "High"])),
        extra(),
    )
        .prop_map(
            |(
                product_key,
                product_version,
                install_action,
                max_user_deferrals,
                priority,
                extra,
            )| {
                let mut item = ScheduleOSUpdateItem::product_key("placeholder", install_action);
                item.product_key = product_key;
                item.product_version = product_version;
                item.max_user_deferrals = max_user_deferrals;
                item.priority = priority;
                item.extra = extra;
                item
            },
        );
    (vec(item, 0..4), extra()).prop_map(|(updates, extra)| ScheduleOSUpdate { updates, extra })
}

fn setting() -> impl Strategy<Value = Setting> {
    let enabled = || {
        (any::<bool>(), extra()).prop_map(|(enabled, extra)| {
            let mut s = EnabledSetting::new(enabled);
            s.extra = extra;
            s
        })
    };
    let org = (
        text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        extra(),
    )
        .prop_map(
            |(name, short, address, phone, email, magic, extra)| OrganizationInfo {
                organization_name: name,
                organization_short_name: short,
                organization_address: address,
                organization_phone: phone,
                organization_email: email,
                organization_magic: magic,
                extra,
            },
        );
    let mdm_options = (
        of(any::<bool>()),
        of(any::<bool>()),
        of(any::<bool>()),
        extra(),
    )
        .prop_map(|(a, b, c, extra)| MDMOptions {
            activation_lock_allowed_while_supervised: a,
            bootstrap_token_allowed: b,
            prompt_user_to_allow_bootstrap_token_for_authentication: c,
            extra,
        });
    prop_oneof![
        (text(), extra()).prop_map(
            |(device_name, extra)| Setting::DeviceName(DeviceNameSetting { device_name, extra })
        ),
        (text(), extra())
            .prop_map(|(host_name, extra)| Setting::HostName(HostNameSetting { host_name, extra })),
        (text(), extra())
            .prop_map(|(time_zone, extra)| Setting::TimeZone(TimeZoneSetting { time_zone, extra })),
        (of(org), extra()).prop_map(|(organization_info, extra)| Setting::OrganizationInfo(
            OrganizationInfoSetting {
                organization_info,
                extra
            }
        )),
        (mdm_options, extra()).prop_map(|(mdm_options, extra)| Setting::MDMOptions(
            MDMOptionsSetting { mdm_options, extra }
        )),
        enabled().prop_map(Setting::Bluetooth),
        enabled().prop_map(Setting::DataRoaming),
        enabled().prop_map(Setting::VoiceRoaming),
        enabled().prop_map(Setting::PersonalHotspot),
        enabled().prop_map(Setting::DiagnosticSubmission),
        enabled().prop_map(Setting::AppAnalytics),
        (text(), of(any_dict()), extra()).prop_map(|(identifier, configuration, extra)| {
            Setting::ApplicationConfiguration(ApplicationConfigurationSetting {
                identifier,
                configuration,
                extra,
            })
        }),
        (text(), of(attributes()), extra()).prop_map(|(identifier, attributes, extra)| {
            Setting::ApplicationAttributes(ApplicationAttributesSetting {
                identifier,
                attributes,
                extra,
            })
        }),
        (bytes(), any::<i64>(), extra()).prop_map(|(image, place, extra)| Setting::Wallpaper(
            WallpaperSetting {
                image,
                r#where: WallpaperWhere::from(place),
                extra,
            }
        )),
        ("Future[A-Za-z]{0,8}", extra())
            .prop_map(|(item, params)| Setting::Other(OtherSetting { item, params })),
    ]
}

fn settings() -> impl Strategy<Value = Settings> {
    (vec(setting(), 0..4), extra()).prop_map(|(settings, extra)| Settings { settings, extra })
}

fn raw() -> impl Strategy<Value = RawCommand> {
    ("Future[A-Za-z]{1,12}", extra())
        .prop_map(|(request_type, params)| RawCommand::new(request_type, params))
}

/// Encodes `body` every way and decodes it back.
fn check(uuid: String, body: impl Into<CommandBody>) -> Result<(), TestCaseError> {
    let cmd = Command::new(uuid, body);

    let params = cmd.body.to_params();
    prop_assert_eq!(
        &CommandBody::from_params(cmd.request_type(), params)?,
        &cmd.body
    );
    prop_assert_eq!(&Command::from_value(cmd.to_value())?, &cmd);

    let xml = cmd.to_xml();
    prop_assert_eq!(
        &Command::decode(&xml)?,
        &cmd,
        "XML: {}",
        String::from_utf8_lossy(&xml)
    );

    let binary = cmd.to_binary()?;
    prop_assert!(binary.starts_with(b"bplist00"));
    prop_assert_eq!(&Command::decode(&binary)?, &cmd);
    Ok(())
}

macro_rules! roundtrip {
    ($($test:ident: $strategy:expr;)+) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(48))]
            $(
                #[test]
                fn $test(uuid in "[0-9A-F-]{0,36}", body in $strategy) {
                    check(uuid, body)?;
                }
            )+
        }
    };
}

roundtrip! {
    device_information_roundtrip: device_information();
    security_info_roundtrip: extra().prop_map(|extra| SecurityInfo { extra });
    installed_application_list_roundtrip: installed_application_list();
    managed_application_list_roundtrip: managed_application_list();
    profile_list_roundtrip: profile_list();
    certificate_list_roundtrip: certificate_list();
    install_profile_roundtrip: install_profile();
    remove_profile_roundtrip: remove_profile();
    install_application_roundtrip: install_application();
    remove_application_roundtrip: remove_application();
    device_lock_roundtrip: device_lock();
    erase_device_roundtrip: erase_device();
    clear_passcode_roundtrip: clear_passcode();
    restart_device_roundtrip: restart_device();
    shut_down_device_roundtrip: extra().prop_map(|extra| ShutDownDevice { extra });
    enable_lost_mode_roundtrip: enable_lost_mode();
    disable_lost_mode_roundtrip: extra().prop_map(|extra| DisableLostMode { extra });
    play_lost_mode_sound_roundtrip: extra().prop_map(|extra| PlayLostModeSound { extra });
    device_location_roundtrip: extra().prop_map(|extra| DeviceLocation { extra });
    available_os_updates_roundtrip: extra().prop_map(|extra| AvailableOSUpdates { extra });
    schedule_os_update_scan_roundtrip: schedule_os_update_scan();
    schedule_os_update_roundtrip: schedule_os_update();
    os_update_status_roundtrip: extra().prop_map(|extra| OSUpdateStatus { extra });
    device_configured_roundtrip: extra().prop_map(|extra| DeviceConfigured { extra });
    settings_roundtrip: settings();
    activation_lock_bypass_code_roundtrip: extra().prop_map(|extra| ActivationLockBypassCode { extra });
    clear_restrictions_password_roundtrip: extra().prop_map(|extra| ClearRestrictionsPassword { extra });
    raw_roundtrip: raw();
}

/// The list above covers every typed command: each request type's tests
/// exist because each appears here.
#[test]
fn every_typed_command_has_a_roundtrip() {
    let covered = [
        "DeviceInformation",
        "SecurityInfo",
        "InstalledApplicationList",
        "ManagedApplicationList",
        "ProfileList",
        "CertificateList",
        "InstallProfile",
        "RemoveProfile",
        "InstallApplication",
        "RemoveApplication",
        "DeviceLock",
        "EraseDevice",
        "ClearPasscode",
        "RestartDevice",
        "ShutDownDevice",
        "EnableLostMode",
        "DisableLostMode",
        "PlayLostModeSound",
        "DeviceLocation",
        "AvailableOSUpdates",
        "ScheduleOSUpdateScan",
        "ScheduleOSUpdate",
        "OSUpdateStatus",
        "DeviceConfigured",
        "Settings",
        "ActivationLockBypassCode",
        "ClearRestrictionsPassword",
    ];
    let mut known = CommandBody::KNOWN_REQUEST_TYPES.to_vec();
    known.sort_unstable();
    let mut covered = covered.to_vec();
    covered.sort_unstable();
    assert_eq!(known, covered);
}
