//! Notifications the Apps and Books service posts to the MDM server. The
//! body is the whole input; nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vpp_client::{Notification, NotificationBody};

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = Notification::parse(data) {
        assert!(!n.notification_id.is_empty());
        if let NotificationBody::AssetManagement(m) = n.body {
            let _ = m.succeeded();
        }
    }
});
