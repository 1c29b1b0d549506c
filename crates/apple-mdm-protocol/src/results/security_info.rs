//! `SecurityInfo`: passcode, encryption, FileVault, firewall and boot security.
//!
//! Source: Apple, `mdm/commands/information.security.yaml` in
//! <https://github.com/apple/device-management> (`responsekeys`), and the
//! `SecurityInfoResponse` page of Apple's Device Management documentation
//! (<https://developer.apple.com/documentation/devicemanagement/securityinforesponse>).

use pippin_plist::Dictionary;

use super::CommandResult;
use super::codec::Structure;
use crate::error::Result;

structure! {
    /// The response to a `SecurityInfo` command: `SecurityInfoResponse`.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct SecurityInfoResult {
        /// `SecurityInfo` (required).
        security_info: SecurityInfo = "SecurityInfo",
    }
}

impl CommandResult for SecurityInfoResult {
    const REQUEST_TYPE: &'static str = "SecurityInfo";

    fn from_payload(payload: Dictionary) -> Result<Self> {
        Self::decode(payload, "")
    }

    fn to_payload(&self) -> Dictionary {
        self.encode()
    }
}

structure! {
    /// `SecurityInfoResponse.SecurityInfo`.
    ///
    /// Which keys are present depends on the platform: the passcode and
    /// hardware-encryption keys come from iOS/iPadOS and tvOS, the `FDE_*`,
    /// firewall, firmware and boot keys from macOS.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct SecurityInfo {
        /// `HardwareEncryptionCaps`: `1` block-level, `2` file-level, `3` both.
        hardware_encryption_caps: Option<i64> = "HardwareEncryptionCaps",
        /// `PasscodePresent`.
        passcode_present: Option<bool> = "PasscodePresent",
        /// `PasscodeCompliant`: compliant with every requirement, accounts included.
        passcode_compliant: Option<bool> = "PasscodeCompliant",
        /// `PasscodeCompliantWithProfiles`.
        passcode_compliant_with_profiles: Option<bool> = "PasscodeCompliantWithProfiles",
        /// `PasscodeLockGracePeriod`: the user's choice, in seconds (Shared iPad).
        passcode_lock_grace_period: Option<i64> = "PasscodeLockGracePeriod",
        /// `PasscodeLockGracePeriodEnforced`: the enforced value, in seconds.
        passcode_lock_grace_period_enforced: Option<i64> = "PasscodeLockGracePeriodEnforced",
        /// `AutoLockTime`: seconds of idle before sleep (Shared iPad, iOS 17+).
        auto_lock_time: Option<i64> = "AutoLockTime",
        /// `FDE_Enabled`: FileVault is on (macOS 10.9+).
        fde_enabled: Option<bool> = "FDE_Enabled",
        /// `FDE_HasPersonalRecoveryKey`.
        fde_has_personal_recovery_key: Option<bool> = "FDE_HasPersonalRecoveryKey",
        /// `FDE_HasInstitutionalRecoveryKey`.
        fde_has_institutional_recovery_key: Option<bool> = "FDE_HasInstitutionalRecoveryKey",
        /// `FDE_PersonalRecoveryKeyCMS`: the personal recovery key, encrypted
        /// as CMS to the certificate of the `FDERecoveryKeyEscrow` payload
        /// (macOS 10.13+). This is what FileVault key escrow stores.
        fde_personal_recovery_key_cms: Option<Vec<u8>> = "FDE_PersonalRecoveryKeyCMS",
        /// `FDE_PersonalRecoveryKeyDeviceKey`: the index under which the key is
        /// escrowed (the serial number), shown to the user at the login window.
        fde_personal_recovery_key_device_key: Option<String> = "FDE_PersonalRecoveryKeyDeviceKey",
        /// `SystemIntegrityProtectionEnabled` (macOS 10.12+).
        system_integrity_protection_enabled: Option<bool> = "SystemIntegrityProtectionEnabled",
        /// `FirewallSettings` (macOS 10.12+).
        firewall_settings: Option<FirewallSettings> = "FirewallSettings",
        /// `FirmwarePasswordStatus` (macOS 10.13+, Intel).
        firmware_password_status: Option<FirmwarePasswordStatus> = "FirmwarePasswordStatus",
        /// `ManagementStatus`.
        management_status: Option<ManagementStatus> = "ManagementStatus",
        /// `SecureBoot` (macOS 10.15+).
        secure_boot: Option<SecureBoot> = "SecureBoot",
        /// `RemoteDesktopEnabled` (macOS 10.14.4+).
        remote_desktop_enabled: Option<bool> = "RemoteDesktopEnabled",
        /// `AuthenticatedRootVolumeEnabled` (macOS 11+).
        authenticated_root_volume_enabled: Option<bool> = "AuthenticatedRootVolumeEnabled",
        /// `BootstrapTokenAllowedForAuthentication` (Apple silicon, macOS 11+).
        bootstrap_token_allowed_for_authentication:
            Option<BootstrapTokenAllowed> = "BootstrapTokenAllowedForAuthentication",
        /// `BootstrapTokenRequiredForSoftwareUpdate` (Apple silicon, macOS 11+).
        bootstrap_token_required_for_software_update:
            Option<bool> = "BootstrapTokenRequiredForSoftwareUpdate",
        /// `BootstrapTokenRequiredForKernelExtensionApproval` (Apple silicon, macOS 11+).
        bootstrap_token_required_for_kernel_extension_approval:
            Option<bool> = "BootstrapTokenRequiredForKernelExtensionApproval",
        /// `IsRecoveryLockEnabled` (Apple silicon, macOS 11.5+).
        is_recovery_lock_enabled: Option<bool> = "IsRecoveryLockEnabled",
    }
}

structure! {
    /// `SecurityInfoResponse.SecurityInfo.FirewallSettings` (macOS).
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct FirewallSettings {
        /// `FirewallEnabled`.
        firewall_enabled: Option<bool> = "FirewallEnabled",
        /// `BlockAllIncoming`.
        block_all_incoming: Option<bool> = "BlockAllIncoming",
        /// `StealthMode`.
        stealth_mode: Option<bool> = "StealthMode",
        /// `Applications`: the per-app rules.
        applications: Option<Vec<FirewallApplication>> = "Applications",
        /// `LoggingEnabled`.
        logging_enabled: Option<bool> = "LoggingEnabled",
        /// `LoggingOption`: `throttled`, `brief` or `detail`.
        logging_option: Option<String> = "LoggingOption",
    }
}

structure! {
    /// `SecurityInfoResponse.SecurityInfo.FirewallSettings.Applications` item.
    ///
    /// macOS 10.13 sends items with `Name` and `Allowed` only, without `BundleID`.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct FirewallApplication {
        /// `BundleID`.
        bundle_id: Option<String> = "BundleID",
        /// `Name`: the app's display name, when it can be determined.
        name: Option<String> = "Name",
        /// `Allowed`: incoming connections are allowed.
        allowed: Option<bool> = "Allowed",
    }
}

structure! {
    /// `SecurityInfoResponse.SecurityInfo.FirmwarePasswordStatus` (macOS,
    /// Intel). Sent empty by Macs without a firmware password facility.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct FirmwarePasswordStatus {
        /// `PasswordExists`.
        password_exists: Option<bool> = "PasswordExists",
        /// `ChangePending`: a change waits for a restart.
        change_pending: Option<bool> = "ChangePending",
        /// `AllowOroms`: option ROMs are allowed.
        allow_oroms: Option<bool> = "AllowOroms",
    }
}

structure! {
    /// `SecurityInfoResponse.SecurityInfo.ManagementStatus`.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct ManagementStatus {
        /// `EnrolledViaDEP`: enrolled through Automated Device Enrollment.
        enrolled_via_dep: Option<bool> = "EnrolledViaDEP",
        /// `UserApprovedEnrollment`.
        user_approved_enrollment: Option<bool> = "UserApprovedEnrollment",
        /// `IsUserEnrollment`.
        is_user_enrollment: Option<bool> = "IsUserEnrollment",
        /// `IsActivationLockManageable`.
        is_activation_lock_manageable: Option<bool> = "IsActivationLockManageable",
    }
}

structure! {
    /// `SecurityInfoResponse.SecurityInfo.SecureBoot` (macOS 10.15+).
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct SecureBoot {
        /// `SecureBootLevel`.
        secure_boot_level: Option<SecureBootLevel> = "SecureBootLevel",
        /// `ExternalBootLevel`.
        external_boot_level: Option<ExternalBootLevel> = "ExternalBootLevel",
        /// `ReducedSecurity`: features the user relaxed in recoveryOS
        /// (`AllowsAnyAppleSignedOS`, `AllowsUserKextApproval`, `AllowsMDM`);
        /// Apple silicon with `SecureBootLevel` `medium` only.
        reduced_security: Option<Vec<String>> = "ReducedSecurity",
    }
}

string_enum! {
    /// `SecureBoot.SecureBootLevel`: which OS versions may boot.
    pub enum SecureBootLevel {
        /// `off`.
        Off = "off",
        /// `medium`.
        Medium = "medium",
        /// `full`.
        Full = "full",
        /// `not supported`.
        NotSupported = "not supported",
    }
}

string_enum! {
    /// `SecureBoot.ExternalBootLevel`: whether booting from external media is allowed.
    pub enum ExternalBootLevel {
        /// `allowed`.
        Allowed = "allowed",
        /// `disallowed`.
        Disallowed = "disallowed",
        /// `not supported`.
        NotSupported = "not supported",
    }
}

string_enum! {
    /// `SecurityInfo.BootstrapTokenAllowedForAuthentication`: whether the
    /// Secure Enclave lets secure operations use the bootstrap token.
    pub enum BootstrapTokenAllowed {
        /// `allowed`.
        Allowed = "allowed",
        /// `disallowed`.
        Disallowed = "disallowed",
        /// `not supported`.
        NotSupported = "not supported",
    }
}
