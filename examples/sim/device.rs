//! The simulated device itself: who it is (hardware, OS, serial number),
//! what it holds (profiles, certificates, apps), and how it answers each
//! command. No I/O: the session loop sends what [`Device::answer`] returns.

use apple_mdm_protocol::checkin::{Authenticate, CheckIn, CheckInMessage, TokenUpdate};
use apple_mdm_protocol::command::{Command, CommandBody};
use apple_mdm_protocol::report::ErrorChainItem;
use apple_mdm_protocol::results::{
    AvailableOSUpdatesResult, BootstrapTokenAllowed, CertificateInfo, CertificateListResult,
    CommandResult, DeviceInformationResult, ExternalBootLevel, FirewallSettings,
    FirmwarePasswordStatus, InstalledApplication, InstalledApplicationListResult,
    ManagedApplicationListResult, ManagementStatus, OSUpdateSettings, PayloadContentInfo,
    ProfileInfo, ProfileListResult, QueryResponses, SecureBoot, SecureBootLevel, SecurityInfo,
    SecurityInfoResult,
};
use apple_mdm_protocol::{CommandReport, Identity, Status};
use pippin_plist::{Date, Dictionary, Value};
use scep::rand_core::{Rng as _, UnwrapErr};
use serde::{Deserialize, Serialize};

use crate::profile::{InstalledProfile, read_installed};

/// Which kind of device to be.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Platform {
    /// A MacBook Pro (MacBookPro18,3) on macOS 14.5.
    Macos,
    /// An iPhone 14 Pro (iPhone15,2) on iOS 17.5.1.
    Ios,
}

impl Platform {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Macos => "macOS",
            Self::Ios => "iOS",
        }
    }
}

/// Randomness for the simulation, from the operating system.
pub(crate) struct Rand(pub(crate) UnwrapErr<getrandom::SysRng>);

impl Rand {
    pub(crate) fn new() -> Self {
        Self(UnwrapErr(getrandom::SysRng))
    }

    /// Uniform in `0..n` (`n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        // Rejection sampling keeps it uniform.
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.0.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let x = (self.0.next_u64() >> 11) as f64;
        x / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0; n];
        self.0.fill_bytes(&mut v);
        v
    }

    fn text(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| {
                let i = usize::try_from(self.below(alphabet.len() as u64)).unwrap_or(0);
                char::from(alphabet[i])
            })
            .collect()
    }

    fn digits(&mut self, n: usize) -> String {
        self.text(b"0123456789", n)
    }

    pub(crate) fn uuid(&mut self) -> String {
        let mut b = [0u8; 16];
        self.0.fill_bytes(&mut b);
        uuid::Builder::from_random_bytes(b)
            .into_uuid()
            .hyphenated()
            .to_string()
            .to_uppercase()
    }

    fn mac(&mut self) -> String {
        // Apple's own OUIs.
        const OUIS: [&str; 3] = ["a4:83:e7", "f0:18:98", "3c:22:fb"];
        let oui = OUIS[usize::try_from(self.below(3)).unwrap_or(0)];
        let b = self.bytes(3);
        format!("{oui}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2])
    }

    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        let x = lo + (hi - lo) * self.unit();
        (x * 100.0).round() / 100.0
    }
}

/// Characters Apple uses in serial numbers (no vowels that read as digits).
const SERIAL_CHARS: &[u8] = b"0123456789CDFGHJKLMNPQRTVWXY";

/// Who the device is: what it reports in `Authenticate` and
/// `DeviceInformation`.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
pub(crate) struct Hardware {
    pub(crate) platform: Platform,
    pub(crate) udid: String,
    pub(crate) serial_number: String,
    pub(crate) device_name: String,
    pub(crate) host_name: String,
    pub(crate) model: String,
    pub(crate) model_name: String,
    pub(crate) product_name: String,
    pub(crate) model_number: String,
    pub(crate) os_version: String,
    pub(crate) build_version: String,
    pub(crate) provisioning_udid: Option<String>,
    pub(crate) software_update_device_id: String,
    pub(crate) imei: Option<String>,
    pub(crate) meid: Option<String>,
    pub(crate) iccid: Option<String>,
    pub(crate) phone_number: Option<String>,
    pub(crate) wifi_mac: String,
    pub(crate) bluetooth_mac: String,
    pub(crate) capacity_gb: f64,
    pub(crate) available_gb: f64,
    pub(crate) battery_level: f64,
}

impl Hardware {
    /// A new device of `platform`, number `index` of the run.
    pub(crate) fn generate(platform: Platform, index: usize, rng: &mut Rand) -> Self {
        match platform {
            Platform::Macos => {
                let name = format!("Sim MacBook Pro {index:05}");
                Self {
                    platform,
                    udid: rng.uuid(),
                    serial_number: format!("C02{}", rng.text(SERIAL_CHARS, 9)),
                    host_name: format!("sim-macbook-pro-{index:05}"),
                    device_name: name,
                    model: "MacBookPro18,3".into(),
                    model_name: "MacBook Pro".into(),
                    product_name: "MacBookPro18,3".into(),
                    model_number: "MKGP3LL/A".into(),
                    os_version: "14.5".into(),
                    build_version: "23F79".into(),
                    provisioning_udid: Some(format!(
                        "00006000-{}",
                        rng.text(b"0123456789ABCDEF", 16)
                    )),
                    software_update_device_id: "J314sAP".into(),
                    imei: None,
                    meid: None,
                    iccid: None,
                    phone_number: None,
                    wifi_mac: rng.mac(),
                    bluetooth_mac: rng.mac(),
                    capacity_gb: 494.38,
                    available_gb: rng.between(80.0, 400.0),
                    battery_level: rng.between(0.2, 1.0),
                }
            }
            Platform::Ios => {
                let imei = luhn_complete(&format!("35{}", rng.digits(12)));
                Self {
                    platform,
                    udid: format!("00008120-{}", rng.text(b"0123456789ABCDEF", 16)),
                    serial_number: rng.text(SERIAL_CHARS, 10),
                    host_name: format!("Sim-iPhone-{index:05}"),
                    device_name: format!("Sim iPhone {index:05}"),
                    model: "MQ0T3".into(),
                    model_name: "iPhone".into(),
                    product_name: "iPhone15,2".into(),
                    model_number: "MQ0T3".into(),
                    os_version: "17.5.1".into(),
                    build_version: "21F90".into(),
                    provisioning_udid: None,
                    software_update_device_id: "D73AP".into(),
                    meid: Some(imei[..14].to_owned()),
                    imei: Some(format!(
                        "{} {} {} {}",
                        &imei[..2],
                        &imei[2..8],
                        &imei[8..14],
                        &imei[14..]
                    )),
                    iccid: Some(luhn_complete(&format!("894410{}", rng.digits(12)))),
                    phone_number: Some(format!("+44 7700 900{}", rng.digits(3))),
                    wifi_mac: rng.mac(),
                    bluetooth_mac: rng.mac(),
                    capacity_gb: 119.07,
                    available_gb: rng.between(10.0, 100.0),
                    battery_level: rng.between(0.2, 1.0),
                }
            }
        }
    }

    pub(crate) fn identity(&self) -> Identity {
        Identity::device(self.udid.clone())
    }

    /// The `Authenticate` check-in.
    pub(crate) fn authenticate(&self, topic: &str) -> CheckIn {
        CheckIn {
            identity: self.identity(),
            topic: Some(topic.to_owned()),
            message: CheckInMessage::Authenticate(Authenticate {
                device_name: Some(self.device_name.clone()),
                model: Some(self.model.clone()),
                model_name: Some(self.model_name.clone()),
                os_version: Some(self.os_version.clone()),
                build_version: Some(self.build_version.clone()),
                product_name: Some(self.product_name.clone()),
                serial_number: Some(self.serial_number.clone()),
                imei: self.imei.clone(),
                meid: self.meid.clone(),
            }),
            extra: Dictionary::new(),
        }
    }

    /// Every `DeviceInformation` query this device answers.
    fn query_responses(&self) -> QueryResponses {
        let macos = self.platform == Platform::Macos;
        let mut q = QueryResponses {
            udid: Some(self.udid.clone()),
            device_name: Some(self.device_name.clone()),
            os_version: Some(self.os_version.clone()),
            build_version: Some(self.build_version.clone()),
            model_name: Some(self.model_name.clone()),
            model: Some(self.model.clone()),
            model_number: Some(self.model_number.clone()),
            product_name: Some(self.product_name.clone()),
            serial_number: Some(self.serial_number.clone()),
            provisioning_udid: self.provisioning_udid.clone(),
            device_capacity: Some(self.capacity_gb),
            available_device_capacity: Some(self.available_gb),
            battery_level: Some(self.battery_level),
            wifi_mac: Some(self.wifi_mac.clone()),
            bluetooth_mac: Some(self.bluetooth_mac.clone()),
            is_supervised: Some(false),
            is_activation_lock_enabled: Some(!macos),
            is_activation_lock_supported: Some(true),
            is_device_locator_service_enabled: Some(!macos),
            is_do_not_disturb_in_effect: Some(false),
            is_cloud_backup_enabled: Some(!macos),
            is_mdm_lost_mode_enabled: Some(false),
            awaiting_configuration: Some(false),
            software_update_device_id: Some(self.software_update_device_id.clone()),
            time_zone: Some("Europe/London".into()),
            ..QueryResponses::default()
        };
        if macos {
            q.is_apple_silicon = Some(true);
            q.has_battery = Some(true);
            q.host_name = Some(format!("{}.local", self.host_name));
            q.local_host_name = Some(self.host_name.clone());
            q.system_integrity_protection_enabled = Some(true);
            q.pin_required_for_device_lock = Some(true);
            q.pin_required_for_erase_device = Some(false);
            q.supports_lom_device = Some(false);
            q.supports_ios_app_installs = Some(true);
            q.eacs_preflight = Some("success".into());
            q.os_update_settings = Some(OSUpdateSettings {
                catalog_url: Some(
                    "https://swscan.apple.com/content/catalogs/others/index-14-13-12-10.16-10.15-10.14-10.13-10.12-10.11-10.10-10.9-mountainlion-lion-snowleopard-leopard.merged-1.sucatalog.gz".into(),
                ),
                is_default_catalog: Some(true),
                perform_periodic_check: Some(true),
                auto_check_enabled: Some(true),
                background_download_enabled: Some(true),
                automatic_app_installation_enabled: Some(false),
                automatic_os_installation_enabled: Some(false),
                automatic_security_updates_enabled: Some(true),
                ..OSUpdateSettings::default()
            });
        } else {
            q.imei.clone_from(&self.imei);
            q.meid.clone_from(&self.meid);
            q.iccid.clone_from(&self.iccid);
            q.phone_number.clone_from(&self.phone_number);
            q.cellular_technology = Some(3);
            q.modem_firmware_version = Some("1.60.02".into());
            q.current_carrier_network = Some("Vodafone UK".into());
            q.subscriber_carrier_network = Some("Vodafone UK".into());
            q.carrier_settings_version = Some("59.0".into());
            q.subscriber_mcc = Some("234".into());
            q.subscriber_mnc = Some("15".into());
            q.current_mcc = Some("234".into());
            q.current_mnc = Some("15".into());
            q.data_roaming_enabled = Some(false);
            q.voice_roaming_enabled = Some(true);
            q.personal_hotspot_enabled = Some(false);
            q.is_network_tethered = Some(false);
            q.is_roaming = Some(false);
            q.itunes_store_account_is_active = Some(true);
            q.last_cloud_backup_date = Some(Date::from_unix_seconds(1_717_400_000));
            q.diagnostic_submission_enabled = Some(false);
            q.app_analytics_enabled = Some(false);
        }
        q
    }

    fn security_info(&self) -> SecurityInfo {
        match self.platform {
            Platform::Macos => SecurityInfo {
                fde_enabled: Some(true),
                fde_has_personal_recovery_key: Some(true),
                fde_has_institutional_recovery_key: Some(false),
                system_integrity_protection_enabled: Some(true),
                firewall_settings: Some(FirewallSettings {
                    firewall_enabled: Some(true),
                    block_all_incoming: Some(false),
                    stealth_mode: Some(false),
                    logging_enabled: Some(true),
                    logging_option: Some("throttled".into()),
                    ..FirewallSettings::default()
                }),
                firmware_password_status: Some(FirmwarePasswordStatus::default()),
                management_status: Some(ManagementStatus {
                    enrolled_via_dep: Some(false),
                    user_approved_enrollment: Some(true),
                    is_user_enrollment: Some(false),
                    is_activation_lock_manageable: Some(false),
                    ..ManagementStatus::default()
                }),
                secure_boot: Some(SecureBoot {
                    secure_boot_level: Some(SecureBootLevel::Full),
                    external_boot_level: Some(ExternalBootLevel::NotSupported),
                    ..SecureBoot::default()
                }),
                remote_desktop_enabled: Some(false),
                authenticated_root_volume_enabled: Some(true),
                bootstrap_token_allowed_for_authentication: Some(BootstrapTokenAllowed::Allowed),
                bootstrap_token_required_for_software_update: Some(false),
                bootstrap_token_required_for_kernel_extension_approval: Some(false),
                is_recovery_lock_enabled: Some(false),
                ..SecurityInfo::default()
            },
            Platform::Ios => SecurityInfo {
                hardware_encryption_caps: Some(3),
                passcode_present: Some(true),
                passcode_compliant: Some(true),
                passcode_compliant_with_profiles: Some(true),
                passcode_lock_grace_period_enforced: Some(0),
                management_status: Some(ManagementStatus {
                    is_user_enrollment: Some(false),
                    ..ManagementStatus::default()
                }),
                ..SecurityInfo::default()
            },
        }
    }

    fn applications(&self) -> Vec<InstalledApplication> {
        let apps: &[(&str, &str, &str, &str, u64)] = match self.platform {
            Platform::Macos => &[
                (
                    "com.apple.Safari",
                    "Safari",
                    "17.5",
                    "19618.2.12.11.6",
                    104_857_600,
                ),
                (
                    "com.microsoft.Word",
                    "Microsoft Word",
                    "16.86",
                    "16.86.24060916",
                    2_362_232_012,
                ),
                (
                    "com.google.Chrome",
                    "Google Chrome",
                    "125.0.6422.142",
                    "6422.142",
                    1_288_490_188,
                ),
                (
                    "com.tinyspeck.slackmacgap",
                    "Slack",
                    "4.38.125",
                    "438125",
                    398_458_880,
                ),
                (
                    "com.microsoft.CompanyPortalMac",
                    "Company Portal",
                    "5.2405.0",
                    "5.2405.0",
                    157_286_400,
                ),
            ],
            Platform::Ios => &[
                (
                    "com.microsoft.Office.Outlook",
                    "Outlook",
                    "4.2421.0",
                    "4.2421.0",
                    359_661_568,
                ),
                (
                    "com.microsoft.skype.teams",
                    "Teams",
                    "6.9.1",
                    "6.9.1",
                    295_698_432,
                ),
                (
                    "com.microsoft.azureauthenticator",
                    "Authenticator",
                    "6.8.10",
                    "6.8.10",
                    150_994_944,
                ),
                (
                    "com.tinyspeck.chatlyio",
                    "Slack",
                    "24.05.20",
                    "24.05.20.0",
                    221_249_536,
                ),
            ],
        };
        apps.iter()
            .map(|&(id, name, short, version, size)| InstalledApplication {
                identifier: Some(id.into()),
                name: Some(name.into()),
                short_version: Some(short.into()),
                version: Some(version.into()),
                bundle_size: Some(size),
                is_validated: Some(true),
                installing: Some(false),
                app_store_vendable: Some(!id.starts_with("com.apple.")),
                device_based_vpp: Some(false),
                beta_app: Some(false),
                ad_hoc_code_signed: Some(false),
                has_update_available: Some(false),
                ..InstalledApplication::default()
            })
            .collect()
    }
}

/// Completes `digits` with its Luhn check digit (IMEI, ICCID).
fn luhn_complete(digits: &str) -> String {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let d = d * 2;
                if d > 9 { d - 9 } else { d }
            } else {
                d
            }
        })
        .sum();
    format!("{digits}{}", (10 - sum % 10) % 10)
}

/// The push credentials a device sends in `TokenUpdate`.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
pub(crate) struct Push {
    pub(crate) token_hex: String,
    pub(crate) magic: String,
    pub(crate) unlock_token_hex: Option<String>,
}

impl Push {
    pub(crate) fn generate(platform: Platform, rng: &mut Rand) -> Self {
        Self {
            token_hex: hex::encode(rng.bytes(32)),
            magic: rng.uuid(),
            unlock_token_hex: (platform == Platform::Ios).then(|| hex::encode(rng.bytes(256))),
        }
    }

    /// The `TokenUpdate` check-in.
    pub(crate) fn token_update(&self, hw: &Hardware, topic: &str) -> anyhow::Result<CheckIn> {
        Ok(CheckIn {
            identity: hw.identity(),
            topic: Some(topic.to_owned()),
            message: CheckInMessage::TokenUpdate(TokenUpdate {
                token: hex::decode(&self.token_hex)?,
                push_magic: self.magic.clone(),
                unlock_token: self
                    .unlock_token_hex
                    .as_deref()
                    .map(hex::decode)
                    .transpose()?,
                ..TokenUpdate::default()
            }),
            extra: Dictionary::new(),
        })
    }
}

/// What the device does after answering a command.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum After {
    /// Send the answer and go on with whatever the server sends next.
    Continue,
    /// Send the answer, ignore what comes back, and come back later with a
    /// fresh `Idle` (a restart).
    Reconnect,
    /// Send the answer and stop talking to the server (locked, erased, shut
    /// down).
    Gone(&'static str),
}

/// The device's answer to one command.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) report: CommandReport,
    pub(crate) request_type: String,
    pub(crate) after: After,
}

/// A device with its enrollment: what commands see.
#[derive(Clone, Debug)]
pub(crate) struct Device {
    pub(crate) hw: Hardware,
    /// The identity certificate (DER) from SCEP.
    pub(crate) identity_cert: Vec<u8>,
    /// The SCEP CA's certificates (DER).
    pub(crate) ca_certs: Vec<Vec<u8>>,
    /// Installed profiles, the enrollment profile first.
    pub(crate) profiles: Vec<InstalledProfile>,
}

impl Device {
    /// The answer to the command in `body` (the server's plist). With
    /// `not_now` the device is busy and answers `NotNow`.
    ///
    /// A body that is not a command at all but names a `CommandUUID` gets
    /// `CommandFormatError`; one that names none cannot be answered.
    pub(crate) fn answer(&mut self, body: &[u8], not_now: bool) -> anyhow::Result<Answer> {
        let identity = self.hw.identity();
        let cmd = match Command::decode(body) {
            Ok(c) => c,
            Err(e) => {
                let uuid = pippin_plist::from_bytes(body)
                    .ok()
                    .and_then(|v| v.get("CommandUUID")?.as_str().map(str::to_owned))
                    .ok_or_else(|| {
                        anyhow::anyhow!("the server sent a body that is not a command: {e}")
                    })?;
                let request_type = pippin_plist::from_bytes(body)
                    .ok()
                    .and_then(|v| {
                        v.get("Command")?
                            .get("RequestType")?
                            .as_str()
                            .map(str::to_owned)
                    })
                    .unwrap_or_default();
                return Ok(Answer {
                    report: CommandReport::answer(
                        identity,
                        uuid,
                        Status::CommandFormatError,
                        Dictionary::new(),
                    ),
                    request_type,
                    after: After::Continue,
                });
            }
        };
        let request_type = cmd.request_type().to_owned();
        if not_now {
            return Ok(Answer {
                report: CommandReport::answer(
                    identity,
                    cmd.command_uuid,
                    Status::NotNow,
                    Dictionary::new(),
                ),
                request_type,
                after: After::Continue,
            });
        }
        let (outcome, after) = self.run(cmd.body);
        let mut report = match outcome {
            Ok(payload) => {
                let mut r = CommandReport::answer(
                    identity,
                    cmd.command_uuid,
                    Status::Acknowledged,
                    payload,
                );
                r.request_type = Some(request_type.clone());
                r
            }
            Err(item) => {
                let mut r = CommandReport::answer(
                    identity,
                    cmd.command_uuid,
                    Status::Error,
                    Dictionary::new(),
                );
                r.error_chain = vec![item];
                r
            }
        };
        if report.status != Status::Acknowledged {
            report.request_type = None;
        }
        Ok(Answer {
            report,
            request_type,
            after,
        })
    }

    /// Carries out a command: its result payload, or the error.
    fn run(&mut self, body: CommandBody) -> (Result<Dictionary, ErrorChainItem>, After) {
        let ok = |payload| (Ok(payload), After::Continue);
        match body {
            CommandBody::DeviceInformation(q) => {
                let full = DeviceInformationResult {
                    query_responses: self.hw.query_responses(),
                    ..DeviceInformationResult::default()
                }
                .to_payload();
                ok(only_queried(full, &q.queries))
            }
            CommandBody::SecurityInfo(_) => ok(SecurityInfoResult {
                security_info: self.hw.security_info(),
                ..SecurityInfoResult::default()
            }
            .to_payload()),
            CommandBody::InstalledApplicationList(q) => {
                let mut applications = self.hw.applications();
                if let Some(ids) = q.identifiers.filter(|ids| !ids.is_empty()) {
                    applications.retain(|a| a.identifier.as_ref().is_some_and(|i| ids.contains(i)));
                }
                ok(InstalledApplicationListResult {
                    applications,
                    ..InstalledApplicationListResult::default()
                }
                .to_payload())
            }
            CommandBody::ManagedApplicationList(_) => {
                ok(ManagedApplicationListResult::default().to_payload())
            }
            CommandBody::ProfileList(_) => ok(ProfileListResult {
                profiles: self.profiles.iter().map(profile_info).collect(),
                ..ProfileListResult::default()
            }
            .to_payload()),
            CommandBody::CertificateList(_) => ok(self.certificate_list().to_payload()),
            CommandBody::InstallProfile(p) => match read_installed(&p.payload, true) {
                Ok(installed) => {
                    self.profiles
                        .retain(|p| p.identifier != installed.identifier);
                    self.profiles.push(installed);
                    ok(Dictionary::new())
                }
                Err(e) => (
                    Err(error_item(
                        "MCProfileErrorDomain",
                        1000,
                        &format!("The profile could not be read: {e}"),
                    )),
                    After::Continue,
                ),
            },
            CommandBody::RemoveProfile(r) => {
                // The enrollment profile is not removed this way.
                self.profiles
                    .retain(|p| !(p.managed && p.identifier == r.identifier));
                ok(Dictionary::new())
            }
            CommandBody::AvailableOSUpdates(_) => {
                ok(AvailableOSUpdatesResult::default().to_payload())
            }
            CommandBody::ScheduleOSUpdateScan(_) | CommandBody::DeviceConfigured(_) => {
                ok(Dictionary::new())
            }
            CommandBody::RestartDevice(_) => (Ok(Dictionary::new()), After::Reconnect),
            CommandBody::ShutDownDevice(_) => (Ok(Dictionary::new()), After::Gone("shut down")),
            CommandBody::DeviceLock(_) => (Ok(Dictionary::new()), After::Gone("locked")),
            CommandBody::EraseDevice(_) => (Ok(Dictionary::new()), After::Gone("erased")),
            _ => (
                Err(error_item("MCMDMErrorDomain", 12021, "Unknown command")),
                After::Continue,
            ),
        }
    }

    fn certificate_list(&self) -> CertificateListResult {
        let mut certificates = vec![CertificateInfo {
            common_name: common_name(&self.identity_cert),
            data: self.identity_cert.clone(),
            is_identity: true,
            ..CertificateInfo::default()
        }];
        for ca in &self.ca_certs {
            certificates.push(CertificateInfo {
                common_name: common_name(ca),
                data: ca.clone(),
                is_identity: false,
                ..CertificateInfo::default()
            });
        }
        CertificateListResult {
            certificates,
            ..CertificateListResult::default()
        }
    }
}

/// `payload` (`{QueryResponses: {...}}`) with only the `queries` asked for;
/// all of them when none is named.
fn only_queried(mut payload: Dictionary, queries: &[String]) -> Dictionary {
    if queries.is_empty() {
        return payload;
    }
    if let Some(Value::Dictionary(all)) = payload.remove("QueryResponses") {
        let mut asked = Dictionary::new();
        for (k, v) in all.iter() {
            if queries.iter().any(|q| q == k) {
                asked.insert(k.clone(), v.clone());
            }
        }
        payload.insert("QueryResponses", asked);
    }
    payload
}

fn profile_info(p: &InstalledProfile) -> ProfileInfo {
    ProfileInfo {
        payload_identifier: p.identifier.clone(),
        payload_uuid: p.uuid.clone(),
        payload_version: p.version,
        payload_display_name: p.display_name.clone(),
        payload_description: p.description.clone(),
        payload_organization: p.organization.clone(),
        payload_removal_disallowed: Some(p.removal_disallowed.unwrap_or(false)),
        has_removal_passcode: Some(false),
        is_encrypted: Some(false),
        is_managed: Some(p.managed),
        payload_content: Some(
            p.payloads
                .iter()
                .map(|c| PayloadContentInfo {
                    payload_type: c.payload_type.clone(),
                    payload_identifier: c.identifier.clone(),
                    payload_uuid: c.uuid.clone(),
                    payload_version: Some(1),
                    payload_display_name: c.display_name.clone(),
                    ..PayloadContentInfo::default()
                })
                .collect(),
        ),
        ..ProfileInfo::default()
    }
}

fn error_item(domain: &str, code: i64, description: &str) -> ErrorChainItem {
    ErrorChainItem {
        error_code: Some(code),
        error_domain: Some(domain.to_owned()),
        localized_description: Some(description.to_owned()),
        us_english_description: Some(description.to_owned()),
        extra: Dictionary::new(),
    }
}

/// The subject common name of a DER certificate.
pub(crate) fn common_name(der: &[u8]) -> Option<String> {
    use der::Decode as _;
    let cert = scep::x509_cert::Certificate::from_der(der).ok()?;
    cert.tbs_certificate()
        .subject()
        .common_name()
        .ok()
        .flatten()
        .map(String::from)
}

#[cfg(test)]
mod tests {
    use apple_mdm_protocol::command::{
        DeviceInformation, DeviceLock, EraseDevice, InstallProfile, ProfileList, RawCommand,
        RemoveProfile, SecurityInfo as SecurityInfoCommand,
    };
    use apple_mdm_protocol::profile::{EnrollmentProfile, MdmPayload};
    use apple_mdm_protocol::results::decode_result;

    use super::*;

    fn device(platform: Platform) -> Device {
        let mut rng = Rand::new();
        let hw = Hardware::generate(platform, 7, &mut rng);
        let enrollment = EnrollmentProfile::new(MdmPayload::new("https://x/mdm", "topic"), None);
        Device {
            hw,
            identity_cert: Vec::new(),
            ca_certs: Vec::new(),
            profiles: vec![read_installed(&enrollment.to_xml(), false).unwrap()],
        }
    }

    fn send(d: &mut Device, body: impl Into<CommandBody>) -> Answer {
        let cmd = Command::new("CMD-1", body);
        d.answer(&cmd.to_xml(), false).unwrap()
    }

    /// The report as the server reads it.
    fn reread(a: &Answer) -> CommandReport {
        let v = pippin_plist::from_bytes(&a.report.to_xml()).unwrap();
        CommandReport::from_dictionary(v.into_dictionary().unwrap()).unwrap()
    }

    #[test]
    fn hardware_looks_real() {
        let mut rng = Rand::new();
        let mac = Hardware::generate(Platform::Macos, 1, &mut rng);
        assert!(mac.serial_number.starts_with("C02"));
        assert_eq!(mac.serial_number.len(), 12);
        assert_eq!(mac.udid.len(), 36);
        assert_eq!(mac.product_name, "MacBookPro18,3");
        assert_eq!(mac.os_version, "14.5");
        let phone = Hardware::generate(Platform::Ios, 2, &mut rng);
        assert_eq!(phone.product_name, "iPhone15,2");
        assert_eq!(phone.os_version, "17.5.1");
        assert_eq!(phone.udid.len(), 25);
        let imei: String = phone.imei.unwrap().split(' ').collect();
        assert_eq!(imei.len(), 15);
        assert_eq!(luhn_complete(&imei[..14]), imei);
        assert_ne!(
            Hardware::generate(Platform::Macos, 1, &mut rng).udid,
            mac.udid
        );
    }

    #[test]
    fn luhn() {
        // The IMEI example of 3GPP TS 23.003 annex B.
        assert_eq!(luhn_complete("49015420323751"), "490154203237518");
        assert_eq!(luhn_complete("7992739871"), "79927398713");
    }

    #[test]
    fn device_information_answers_the_queries_asked() {
        let mut d = device(Platform::Macos);
        let a = send(
            &mut d,
            DeviceInformation {
                queries: vec!["SerialNumber".into(), "OSVersion".into(), "Nope".into()],
                ..DeviceInformation::default()
            },
        );
        assert_eq!(a.after, After::Continue);
        assert_eq!(a.request_type, "DeviceInformation");
        let r = reread(&a);
        assert_eq!(r.status, Status::Acknowledged);
        assert_eq!(r.command_uuid.as_deref(), Some("CMD-1"));
        assert_eq!(r.identity.udid.as_deref(), Some(d.hw.udid.as_str()));
        let info: DeviceInformationResult = r.result().unwrap();
        let q = info.query_responses;
        assert_eq!(
            q.serial_number.as_deref(),
            Some(d.hw.serial_number.as_str())
        );
        assert_eq!(q.os_version.as_deref(), Some("14.5"));
        assert!(q.model.is_none());

        let all = send(&mut d, DeviceInformation::default());
        let info: DeviceInformationResult = reread(&all).result().unwrap();
        assert_eq!(
            info.query_responses.model.as_deref(),
            Some("MacBookPro18,3")
        );
        assert_eq!(info.query_responses.is_apple_silicon, Some(true));
    }

    #[test]
    fn ios_results_decode_as_the_server_reads_them() {
        let mut d = device(Platform::Ios);
        for body in [
            CommandBody::from(DeviceInformation::default()),
            SecurityInfoCommand::default().into(),
            apple_mdm_protocol::command::InstalledApplicationList::default().into(),
            apple_mdm_protocol::command::CertificateList::default().into(),
            ProfileList::default().into(),
        ] {
            let a = send(&mut d, body);
            let r = reread(&a);
            assert_eq!(r.status, Status::Acknowledged, "{}", a.request_type);
            assert!(
                decode_result(&a.request_type, r.payload).unwrap().is_some(),
                "{}",
                a.request_type
            );
        }
    }

    #[test]
    fn profiles_installed_and_removed_show_in_profile_list() {
        let mut d = device(Platform::Macos);
        let mut extra = EnrollmentProfile::new(MdmPayload::new("https://y/mdm", "t2"), None);
        extra.identifier = "com.example.wifi".into();
        let a = send(&mut d, InstallProfile::new(extra.to_xml()));
        assert_eq!(reread(&a).status, Status::Acknowledged);
        let list: ProfileListResult = reread(&send(&mut d, ProfileList::default()))
            .result()
            .unwrap();
        let ids: Vec<_> = list
            .profiles
            .iter()
            .map(|p| p.payload_identifier.as_str())
            .collect();
        assert_eq!(ids, ["com.github.pippin.enroll", "com.example.wifi"]);
        assert_eq!(list.profiles[1].is_managed, Some(true));

        // Installing it again replaces it.
        send(&mut d, InstallProfile::new(extra.to_xml()));
        assert_eq!(d.profiles.len(), 2);

        let a = send(&mut d, RemoveProfile::new("com.example.wifi"));
        assert_eq!(reread(&a).status, Status::Acknowledged);
        let a = send(&mut d, RemoveProfile::new("com.github.pippin.enroll"));
        assert_eq!(reread(&a).status, Status::Acknowledged);
        assert_eq!(d.profiles.len(), 1);

        let a = send(&mut d, InstallProfile::new(b"garbage".to_vec()));
        let r = reread(&a);
        assert_eq!(r.status, Status::Error);
        assert_eq!(
            r.error_chain[0].error_domain.as_deref(),
            Some("MCProfileErrorDomain")
        );
    }

    #[test]
    fn unknown_commands_are_errors() {
        let mut d = device(Platform::Ios);
        let a = send(&mut d, RawCommand::new("Frobnicate", Dictionary::new()));
        assert_eq!(a.after, After::Continue);
        let r = reread(&a);
        assert_eq!(r.status, Status::Error);
        assert_eq!(r.error_chain.len(), 1);
        assert_eq!(r.error_chain[0].error_code, Some(12021));
        assert_eq!(
            r.error_chain[0].error_domain.as_deref(),
            Some("MCMDMErrorDomain")
        );
        assert!(r.error_summary().unwrap().contains("Unknown command"));
    }

    #[test]
    fn lock_and_erase_end_the_device() {
        let mut d = device(Platform::Ios);
        let a = send(&mut d, DeviceLock::default());
        assert_eq!(a.after, After::Gone("locked"));
        assert_eq!(reread(&a).status, Status::Acknowledged);
        let a = send(&mut d, EraseDevice::default());
        assert_eq!(a.after, After::Gone("erased"));
    }

    #[test]
    fn busy_devices_say_not_now() {
        let mut d = device(Platform::Macos);
        let cmd = Command::new("CMD-2", SecurityInfoCommand::default());
        let a = d.answer(&cmd.to_xml(), true).unwrap();
        assert_eq!(a.after, After::Continue);
        let r = reread(&a);
        assert_eq!(r.status, Status::NotNow);
        assert_eq!(r.command_uuid.as_deref(), Some("CMD-2"));
        assert!(r.payload.is_empty());
    }

    #[test]
    fn malformed_commands_get_command_format_error() {
        let mut d = device(Platform::Macos);
        // DeviceInformation whose Queries is not an array.
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>Command</key><dict><key>RequestType</key><string>DeviceInformation</string>
<key>Queries</key><string>all</string></dict>
<key>CommandUUID</key><string>BAD-1</string>
</dict></plist>"#;
        let a = d.answer(body, false).unwrap();
        let r = reread(&a);
        assert_eq!(r.status, Status::CommandFormatError);
        assert_eq!(r.command_uuid.as_deref(), Some("BAD-1"));
        assert_eq!(a.request_type, "DeviceInformation");
        assert!(d.answer(b"<plist><dict/></plist>", false).is_err());
        assert!(d.answer(b"\x00\x01", false).is_err());
    }

    #[test]
    fn authenticate_and_token_update_messages() {
        let mut rng = Rand::new();
        let hw = Hardware::generate(Platform::Ios, 3, &mut rng);
        let auth = hw.authenticate("com.apple.mgmt.External.1");
        let v = pippin_plist::from_bytes(&auth.to_xml()).unwrap();
        let back = CheckIn::from_dictionary(v.into_dictionary().unwrap()).unwrap();
        assert_eq!(back, auth);
        let push = Push::generate(Platform::Ios, &mut rng);
        let tu = push.token_update(&hw, "com.apple.mgmt.External.1").unwrap();
        let CheckInMessage::TokenUpdate(t) = &tu.message else {
            panic!("not a TokenUpdate");
        };
        assert_eq!(t.token.len(), 32);
        assert_eq!(t.unlock_token.as_ref().map(Vec::len), Some(256));
        assert!(
            Push::generate(Platform::Macos, &mut rng)
                .unlock_token_hex
                .is_none()
        );
    }

    #[test]
    fn random_helpers() {
        let mut rng = Rand::new();
        for _ in 0..1000 {
            let u = rng.unit();
            assert!((0.0..1.0).contains(&u));
            assert!(rng.below(3) < 3);
        }
        assert!(!rng.chance(0.0));
        assert!(rng.chance(1.0));
        let n = (0..1000).filter(|_| rng.chance(0.5)).count();
        assert!((350..650).contains(&n), "{n}");
    }
}
