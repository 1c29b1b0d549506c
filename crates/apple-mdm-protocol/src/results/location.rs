//! `DeviceLocation`: where a device in Managed Lost Mode is.
//!
//! Source: Apple, `mdm/commands/device.lostmode.location.yaml` in
//! <https://github.com/apple/device-management> (`responsekeys`), and the
//! `DeviceLocationResponse` page of Apple's Device Management documentation
//! (<https://developer.apple.com/documentation/devicemanagement/devicelocationresponse>).

use pippin_plist::Dictionary;

use super::CommandResult;
use super::codec::Structure;
use crate::error::Result;

structure! {
    /// The response to a `DeviceLocation` command: `DeviceLocationResponse`.
    ///
    /// Every number is a `<real>` (accepted as `<integer>` too). Apple marks
    /// every key required; `Latitude` and `Longitude` are required here and
    /// the accuracy, motion and time keys optional, so that a partial fix is
    /// still recorded. Negative accuracy, altitude, speed or course values
    /// mean "unknown".
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct DeviceLocationResult {
        /// `Latitude` (required), in degrees.
        latitude: f64 = "Latitude",
        /// `Longitude` (required), in degrees.
        longitude: f64 = "Longitude",
        /// `HorizontalAccuracy`: radius of uncertainty in meters.
        horizontal_accuracy: Option<f64> = "HorizontalAccuracy",
        /// `VerticalAccuracy`: accuracy of the altitude in meters.
        vertical_accuracy: Option<f64> = "VerticalAccuracy",
        /// `Altitude`, in meters.
        altitude: Option<f64> = "Altitude",
        /// `Speed`, in meters per second.
        speed: Option<f64> = "Speed",
        /// `Course`: direction of travel, in degrees.
        course: Option<f64> = "Course",
        /// `Timestamp`: when the location was determined, an RFC 3339 string
        /// kept as the device sent it.
        timestamp: Option<String> = "Timestamp",
    }
}

impl CommandResult for DeviceLocationResult {
    const REQUEST_TYPE: &'static str = "DeviceLocation";

    fn from_payload(payload: Dictionary) -> Result<Self> {
        Self::decode(payload, "")
    }

    fn to_payload(&self) -> Dictionary {
        self.encode()
    }
}
