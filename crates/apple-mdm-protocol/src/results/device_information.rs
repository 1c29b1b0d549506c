//! `DeviceInformation`: the device's answers to the queries the server asked.
//!
//! Source: Apple, `mdm/commands/information.device.yaml` in
//! <https://github.com/apple/device-management> (`responsekeys`), and the
//! `DeviceInformationResponse` page of Apple's Device Management documentation
//! (<https://developer.apple.com/documentation/devicemanagement/deviceinformationresponse>).

use pippin_plist::{Date, Dictionary, Value};

use super::CommandResult;
use super::codec::Structure;
use crate::error::Result;

structure! {
    /// The response to a `DeviceInformation` command: `DeviceInformationResponse`.
    ///
    /// A device answers only the queries it was asked, and only those its
    /// platform, OS version and the server's access rights allow; every
    /// [`QueryResponses`] field is therefore optional.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct DeviceInformationResult {
        /// `QueryResponses` (required): the answers.
        query_responses: QueryResponses = "QueryResponses",
    }
}

impl CommandResult for DeviceInformationResult {
    const REQUEST_TYPE: &'static str = "DeviceInformation";

    fn from_payload(payload: Dictionary) -> Result<Self> {
        Self::decode(payload, "")
    }

    fn to_payload(&self) -> Dictionary {
        self.encode()
    }
}

structure! {
    /// `DeviceInformationResponse.QueryResponses`: one key per query answered.
    ///
    /// The common inventory keys for macOS, iOS/iPadOS and tvOS are typed;
    /// anything else (Shared iPad details, accessibility settings, keys added
    /// by later OS versions) stays in `extra`.
    ///
    /// Numbers Apple types as `<real>` (`DeviceCapacity`,
    /// `AvailableDeviceCapacity`, `BatteryLevel`) are accepted as `<integer>`
    /// too, and are written back as `<real>`.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct QueryResponses {
        /// `UDID`: the device's unique identifier.
        udid: Option<String> = "UDID",
        /// `ProvisioningUDID`: the identifier in provisioning profiles; differs
        /// from `UDID` on Macs with Apple silicon (macOS 11.3+).
        provisioning_udid: Option<String> = "ProvisioningUDID",
        /// `DeviceName`.
        device_name: Option<String> = "DeviceName",
        /// `OSVersion`, e.g. `14.4.1`.
        os_version: Option<String> = "OSVersion",
        /// `BuildVersion`, e.g. `23E224`.
        build_version: Option<String> = "BuildVersion",
        /// `SupplementalBuildVersion`: the Rapid Security Response build.
        supplemental_build_version: Option<String> = "SupplementalBuildVersion",
        /// `SupplementalOSVersionExtra`: the Rapid Security Response letter, e.g. `(a)`.
        supplemental_os_version_extra: Option<String> = "SupplementalOSVersionExtra",
        /// `ModelName`, e.g. `iPhone`, `MacBook Pro`.
        model_name: Option<String> = "ModelName",
        /// `Model`: on iOS the order number (`MD786X`), on macOS the model
        /// identifier (`iMac15,1`).
        model: Option<String> = "Model",
        /// `ModelNumber`: hardware model number with region, e.g. `MK1A3LL/A`
        /// (Apple silicon only on macOS).
        model_number: Option<String> = "ModelNumber",
        /// `ProductName`, e.g. `iPad8,12`, `Mac14,2`.
        product_name: Option<String> = "ProductName",
        /// `SerialNumber`.
        serial_number: Option<String> = "SerialNumber",
        /// `IsAppleSilicon` (macOS).
        is_apple_silicon: Option<bool> = "IsAppleSilicon",
        /// `DeviceCapacity`: total storage in GB (base-10 on iOS and macOS 12+,
        /// base-2 GiB on macOS 11 and earlier).
        device_capacity: Option<f64> = "DeviceCapacity",
        /// `AvailableDeviceCapacity`: free storage, same units as `DeviceCapacity`.
        available_device_capacity: Option<f64> = "AvailableDeviceCapacity",
        /// `BatteryLevel`: `0.0` to `1.0`, or `-1.0` when unknown.
        battery_level: Option<f64> = "BatteryLevel",
        /// `HasBattery`.
        has_battery: Option<bool> = "HasBattery",
        /// `CellularTechnology`: `0` none, `1` GSM, `2` CDMA, `3` both.
        cellular_technology: Option<i64> = "CellularTechnology",
        /// `IMEI` (deprecated in iOS 16; see `ServiceSubscriptions`).
        imei: Option<String> = "IMEI",
        /// `MEID` (deprecated in iOS 16).
        meid: Option<String> = "MEID",
        /// `ICCID` of the installed SIM (deprecated in iOS 16).
        iccid: Option<String> = "ICCID",
        /// `ModemFirmwareVersion`.
        modem_firmware_version: Option<String> = "ModemFirmwareVersion",
        /// `WiFiMAC`.
        wifi_mac: Option<String> = "WiFiMAC",
        /// `BluetoothMAC`.
        bluetooth_mac: Option<String> = "BluetoothMAC",
        /// `EthernetMAC`: the primary Ethernet MAC address (macOS).
        ethernet_mac: Option<String> = "EthernetMAC",
        /// `IsSupervised`.
        is_supervised: Option<bool> = "IsSupervised",
        /// `IsMultiUser`: the device is a Shared iPad.
        is_multi_user: Option<bool> = "IsMultiUser",
        /// `IsDeviceLocatorServiceEnabled`: Find My is on.
        is_device_locator_service_enabled: Option<bool> = "IsDeviceLocatorServiceEnabled",
        /// `IsActivationLockEnabled` (deprecated in iOS 16 and macOS 13).
        is_activation_lock_enabled: Option<bool> = "IsActivationLockEnabled",
        /// `IsActivationLockSupported`.
        is_activation_lock_supported: Option<bool> = "IsActivationLockSupported",
        /// `IsDoNotDisturbInEffect`.
        is_do_not_disturb_in_effect: Option<bool> = "IsDoNotDisturbInEffect",
        /// `IsCloudBackupEnabled`.
        is_cloud_backup_enabled: Option<bool> = "IsCloudBackupEnabled",
        /// `LastCloudBackupDate`.
        last_cloud_backup_date: Option<Date> = "LastCloudBackupDate",
        /// `IsMDMLostModeEnabled`.
        is_mdm_lost_mode_enabled: Option<bool> = "IsMDMLostModeEnabled",
        /// `AwaitingConfiguration`: still waiting for `DeviceConfigured` in
        /// Setup Assistant.
        awaiting_configuration: Option<bool> = "AwaitingConfiguration",
        /// `HostName` (macOS).
        host_name: Option<String> = "HostName",
        /// `LocalHostName`: the Bonjour name (macOS).
        local_host_name: Option<String> = "LocalHostName",
        /// `SystemIntegrityProtectionEnabled` (macOS 10.12+).
        system_integrity_protection_enabled: Option<bool> = "SystemIntegrityProtectionEnabled",
        /// `OSUpdateSettings` (macOS).
        os_update_settings: Option<OSUpdateSettings> = "OSUpdateSettings",
        /// `ActiveManagedUsers`: directory GUIDs of the logged-in managed users (macOS).
        active_managed_users: Option<Vec<String>> = "ActiveManagedUsers",
        /// `CurrentConsoleManagedUser`: GUID of the managed user at the console
        /// (macOS; sent by macOS, described under `ActiveManagedUsers`).
        current_console_managed_user: Option<String> = "CurrentConsoleManagedUser",
        /// `AutoSetupAdminAccounts`: admin accounts Setup Assistant created
        /// during automated enrollment (macOS), each with `GUID` and `shortName`.
        auto_setup_admin_accounts: Option<Vec<Dictionary>> = "AutoSetupAdminAccounts",
        /// `iTunesStoreAccountIsActive`.
        itunes_store_account_is_active: Option<bool> = "iTunesStoreAccountIsActive",
        /// `iTunesStoreAccountHash`.
        itunes_store_account_hash: Option<String> = "iTunesStoreAccountHash",
        /// `EASDeviceIdentifier`: the Exchange ActiveSync device identifier.
        eas_device_identifier: Option<String> = "EASDeviceIdentifier",
        /// `DeviceID` (tvOS).
        device_id: Option<String> = "DeviceID",
        /// `TimeZone`: IANA time zone name.
        time_zone: Option<String> = "TimeZone",
        /// `PINRequiredForEraseDevice`: `EraseDevice` needs a PIN (macOS 11+).
        pin_required_for_erase_device: Option<bool> = "PINRequiredForEraseDevice",
        /// `PINRequiredForDeviceLock`: `DeviceLock` needs a PIN (macOS 11+).
        pin_required_for_device_lock: Option<bool> = "PINRequiredForDeviceLock",
        /// `SupportsLOMDevice`: accepts lights-out management commands (macOS 11+).
        supports_lom_device: Option<bool> = "SupportsLOMDevice",
        /// `SupportsiOSAppInstalls`: a Mac that can install iOS apps through MDM.
        supports_ios_app_installs: Option<bool> = "SupportsiOSAppInstalls",
        /// `SoftwareUpdateDeviceID`: the identifier for looking up updates at
        /// `gdmf.apple.com`.
        software_update_device_id: Option<String> = "SoftwareUpdateDeviceID",
        /// `EACSPreflight`: whether `EraseDevice` can use Erase All Content and
        /// Settings (`success`, `not supported`, or a reason).
        eacs_preflight: Option<String> = "EACSPreflight",
        /// `DevicePropertiesAttestation`: DER certificates, leaf first, chained
        /// to Apple's Enterprise Attestation Root CA.
        device_properties_attestation: Option<Vec<Vec<u8>>> = "DevicePropertiesAttestation",
        /// `ServiceSubscriptions`: one entry per cellular subscription (iOS 12+).
        service_subscriptions: Option<Vec<ServiceSubscription>> = "ServiceSubscriptions",
        /// `CurrentCarrierNetwork` (deprecated in iOS 16).
        current_carrier_network: Option<String> = "CurrentCarrierNetwork",
        /// `SubscriberCarrierNetwork` (deprecated in iOS 16).
        subscriber_carrier_network: Option<String> = "SubscriberCarrierNetwork",
        /// `CarrierSettingsVersion` (deprecated in iOS 16).
        carrier_settings_version: Option<String> = "CarrierSettingsVersion",
        /// `PhoneNumber` (deprecated in iOS 16).
        phone_number: Option<String> = "PhoneNumber",
        /// `SubscriberMCC` (deprecated in iOS 16).
        subscriber_mcc: Option<String> = "SubscriberMCC",
        /// `SubscriberMNC` (deprecated in iOS 16).
        subscriber_mnc: Option<String> = "SubscriberMNC",
        /// `CurrentMCC` (deprecated in iOS 16).
        current_mcc: Option<String> = "CurrentMCC",
        /// `CurrentMNC` (deprecated in iOS 16).
        current_mnc: Option<String> = "CurrentMNC",
        /// `DataRoamingEnabled`.
        data_roaming_enabled: Option<bool> = "DataRoamingEnabled",
        /// `VoiceRoamingEnabled` (deprecated in iOS 16).
        voice_roaming_enabled: Option<bool> = "VoiceRoamingEnabled",
        /// `PersonalHotspotEnabled`.
        personal_hotspot_enabled: Option<bool> = "PersonalHotspotEnabled",
        /// `IsNetworkTethered`.
        is_network_tethered: Option<bool> = "IsNetworkTethered",
        /// `IsRoaming` (deprecated in iOS 16).
        is_roaming: Option<bool> = "IsRoaming",
        /// `DiagnosticSubmissionEnabled`.
        diagnostic_submission_enabled: Option<bool> = "DiagnosticSubmissionEnabled",
        /// `AppAnalyticsEnabled`.
        app_analytics_enabled: Option<bool> = "AppAnalyticsEnabled",
        /// `MaximumResidentUsers` (Shared iPad).
        maximum_resident_users: Option<i64> = "MaximumResidentUsers",
        /// `OrganizationInfo`, as set by the `Settings` command.
        organization_info: Option<Dictionary> = "OrganizationInfo",
        /// `MDMOptions`, as set by the `Settings` command.
        mdm_options: Option<Dictionary> = "MDMOptions",
        /// `PushToken`: the user channel's push token (user channel only).
        push_token: Option<Vec<u8>> = "PushToken",
    }
}

structure! {
    /// `DeviceInformationResponse.QueryResponses.OSUpdateSettings` (macOS):
    /// the Mac's software-update preferences.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct OSUpdateSettings {
        /// `CatalogURL`: the software update catalog the Mac uses.
        catalog_url: Option<String> = "CatalogURL",
        /// `IsDefaultCatalog`: `CatalogURL` is Apple's default.
        is_default_catalog: Option<bool> = "IsDefaultCatalog",
        /// `PreviousScanDate`: the last scan for updates.
        previous_scan_date: Option<Date> = "PreviousScanDate",
        /// `PreviousScanResult`: the last scan's result code, kept as sent.
        /// Apple's schema says `<string>` (`"0"` = success), but macOS 10.11
        /// sends `<integer>`; removed in macOS 15.
        previous_scan_result: Option<Value> = "PreviousScanResult",
        /// `PerformPeriodicCheck`.
        perform_periodic_check: Option<bool> = "PerformPeriodicCheck",
        /// `AutoCheckEnabled`.
        auto_check_enabled: Option<bool> = "AutoCheckEnabled",
        /// `BackgroundDownloadEnabled`.
        background_download_enabled: Option<bool> = "BackgroundDownloadEnabled",
        /// `AutomaticAppInstallationEnabled`.
        automatic_app_installation_enabled: Option<bool> = "AutomaticAppInstallationEnabled",
        /// `AutomaticOSInstallationEnabled`.
        automatic_os_installation_enabled: Option<bool> = "AutomaticOSInstallationEnabled",
        /// `AutomaticSecurityUpdatesEnabled`.
        automatic_security_updates_enabled: Option<bool> = "AutomaticSecurityUpdatesEnabled",
    }
}

structure! {
    /// `DeviceInformationResponse.QueryResponses.ServiceSubscriptions` item:
    /// one cellular subscription (a physical SIM or an eSIM), iOS 12+.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct ServiceSubscription {
        /// `Slot`: which SIM slot holds this subscription.
        slot: Option<String> = "Slot",
        /// `Label`.
        label: Option<String> = "Label",
        /// `LabelID`.
        label_id: Option<String> = "LabelID",
        /// `IMEI`.
        imei: Option<String> = "IMEI",
        /// `MEID`.
        meid: Option<String> = "MEID",
        /// `ICCID`.
        iccid: Option<String> = "ICCID",
        /// `EID`: the eSIM identifier (iOS 14+).
        eid: Option<String> = "EID",
        /// `PhoneNumber`.
        phone_number: Option<String> = "PhoneNumber",
        /// `CarrierSettingsVersion`.
        carrier_settings_version: Option<String> = "CarrierSettingsVersion",
        /// `CurrentCarrierNetwork`.
        current_carrier_network: Option<String> = "CurrentCarrierNetwork",
        /// `SubscriberCarrierNetwork` (iOS 16+).
        subscriber_carrier_network: Option<String> = "SubscriberCarrierNetwork",
        /// `CurrentMCC`.
        current_mcc: Option<String> = "CurrentMCC",
        /// `CurrentMNC`.
        current_mnc: Option<String> = "CurrentMNC",
        /// `IsDataPreferred`.
        is_data_preferred: Option<bool> = "IsDataPreferred",
        /// `IsVoicePreferred`.
        is_voice_preferred: Option<bool> = "IsVoicePreferred",
        /// `IsRoaming`.
        is_roaming: Option<bool> = "IsRoaming",
    }
}
