//! Who sent a message: the device channel, a user channel, or a User
//! Enrollment.
//!
//! Every check-in and command report identifies its sender with some of these
//! keys (Apple `device-management`, `mdm/checkin/*.yaml`):
//!
//! | key                | device channel | user channel (macOS) | User Enrollment            |
//! |--------------------|----------------|----------------------|----------------------------|
//! | `UDID`             | yes            | yes                  | no                         |
//! | `EnrollmentID`     | no             | no                   | yes (both channels)        |
//! | `UserID`           | no             | yes (user's GUID)    | no                         |
//! | `EnrollmentUserID` | no             | no                   | user channel only          |
//! | `UserShortName`    | no             | yes                  | optional                   |
//! | `UserLongName`     | no             | yes                  | optional                   |
//!
//! So every one of them is optional in the message; [`Identity::enrollment_id`]
//! turns them into the key the server files the enrollment under.

use std::fmt;

use pippin_plist::Dictionary;

use crate::error::{Error, Result};
use crate::fields::{DictBuilder, Fields};

/// The identifying keys of a message, as sent.
#[derive(Clone, Debug, Default, Eq, Hash, PartialEq)]
pub struct Identity {
    /// `UDID`: the device's unique identifier (absent in User Enrollment).
    pub udid: Option<String>,
    /// `EnrollmentID`: the per-enrollment identifier of a User Enrollment.
    pub enrollment_id: Option<String>,
    /// `UserID`: the macOS user's directory GUID (user channel).
    pub user_id: Option<String>,
    /// `EnrollmentUserID`: the user identifier of a User Enrollment's user channel.
    pub enrollment_user_id: Option<String>,
    /// `UserShortName`: the macOS short name (user channel).
    pub user_short_name: Option<String>,
    /// `UserLongName`: the macOS full name (user channel).
    pub user_long_name: Option<String>,
}

impl Identity {
    /// A device-channel identity for `udid`.
    pub fn device(udid: impl Into<String>) -> Self {
        Self {
            udid: Some(udid.into()),
            ..Self::default()
        }
    }

    /// A macOS user-channel identity.
    pub fn user(udid: impl Into<String>, user_id: impl Into<String>) -> Self {
        Self {
            udid: Some(udid.into()),
            user_id: Some(user_id.into()),
            ..Self::default()
        }
    }

    /// Which channel the message came in on: a user channel when a user
    /// identifier (`UserID` or `EnrollmentUserID`) is present.
    pub fn channel(&self) -> Channel {
        if self.user_id.is_some() || self.enrollment_user_id.is_some() {
            Channel::User
        } else {
            Channel::Device
        }
    }

    /// The key the enrollment is filed under.
    ///
    /// Fails with `MissingKey` when neither `UDID` nor `EnrollmentID` is present
    /// (a message that cannot be attributed to any enrollment).
    pub fn enrollment_id(&self) -> Result<EnrollmentId> {
        let device = self
            .udid
            .as_deref()
            .or(self.enrollment_id.as_deref())
            .ok_or_else(|| Error::missing("UDID"))?;
        let user = self
            .user_id
            .as_deref()
            .or(self.enrollment_user_id.as_deref());
        Ok(EnrollmentId {
            device: device.to_owned(),
            user: user.map(str::to_owned),
        })
    }

    pub(crate) fn take(f: &mut Fields) -> Result<Self> {
        Ok(Self {
            udid: f.opt_string("UDID")?,
            enrollment_id: f.opt_string("EnrollmentID")?,
            user_id: f.opt_string("UserID")?,
            enrollment_user_id: f.opt_string("EnrollmentUserID")?,
            user_short_name: f.opt_string("UserShortName")?,
            user_long_name: f.opt_string("UserLongName")?,
        })
    }

    pub(crate) fn put(&self, b: &mut DictBuilder) {
        b.opt("UDID", self.udid.clone())
            .opt("EnrollmentID", self.enrollment_id.clone())
            .opt("UserID", self.user_id.clone())
            .opt("EnrollmentUserID", self.enrollment_user_id.clone())
            .opt("UserShortName", self.user_short_name.clone())
            .opt("UserLongName", self.user_long_name.clone());
    }

    /// The identity's keys as a dictionary (for building messages).
    pub fn to_dictionary(&self) -> Dictionary {
        let mut b = DictBuilder::new();
        self.put(&mut b);
        b.build()
    }
}

/// The MDM channel a message belongs to.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum Channel {
    /// The device channel: one per device.
    Device,
    /// A user channel: one per user on a macOS device, or the user side of a
    /// User Enrollment. It has its own push token and its own command queue.
    User,
}

/// The key an enrollment is stored and queued under: the device's `UDID` (or
/// `EnrollmentID`), plus the user's identifier for a user channel.
///
/// Displayed as `DEVICE` or `DEVICE:USER`.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct EnrollmentId {
    /// `UDID` or `EnrollmentID`.
    pub device: String,
    /// `UserID` or `EnrollmentUserID` for a user channel.
    pub user: Option<String>,
}

impl EnrollmentId {
    /// The device-channel enrollment of `device`.
    pub fn device(device: impl Into<String>) -> Self {
        Self {
            device: device.into(),
            user: None,
        }
    }

    /// The channel this enrollment is.
    pub fn channel(&self) -> Channel {
        if self.user.is_some() {
            Channel::User
        } else {
            Channel::Device
        }
    }

    /// The device channel of the same device.
    pub fn device_channel(&self) -> Self {
        Self::device(self.device.clone())
    }
}

impl fmt::Display for EnrollmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.user {
            Some(u) => write!(f, "{}:{u}", self.device),
            None => f.write_str(&self.device),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_and_ids() {
        let d = Identity::device("U1");
        assert_eq!(d.channel(), Channel::Device);
        assert_eq!(d.enrollment_id().unwrap().to_string(), "U1");

        let u = Identity::user("U1", "G1");
        assert_eq!(u.channel(), Channel::User);
        let id = u.enrollment_id().unwrap();
        assert_eq!(id.to_string(), "U1:G1");
        assert_eq!(id.device_channel(), EnrollmentId::device("U1"));

        let ue = Identity {
            enrollment_id: Some("E1".into()),
            enrollment_user_id: Some("EU1".into()),
            ..Identity::default()
        };
        assert_eq!(ue.enrollment_id().unwrap().to_string(), "E1:EU1");

        assert!(matches!(
            Identity::default().enrollment_id(),
            Err(Error::MissingKey { .. })
        ));
    }
}
