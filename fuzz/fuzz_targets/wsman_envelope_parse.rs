//! WS-Management envelopes: every answer parser and the service side's
//! request parser read arbitrary bytes without panicking, within their
//! limits. A batch yields at most the items it counted. A request the
//! service side reads, answered with a fault, reads back as that fault; a
//! `Put` or `Create` instance it reads, written again by the client side,
//! reads back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sccm_wmi::wsman::{Enumeration, Limits, MessageId, WsMan, server};
use sccm_wmi::{Error, Instance};

fuzz_target!(|data: &[u8]| {
    let ws = WsMan::for_site("http://provider:5985/wsman", "PS1").expect("a valid configuration");
    for status in [200u16, 500] {
        let response = http::Response::builder()
            .status(status)
            .body(data)
            .expect("a valid status");
        for batch in [ws.parse_enumerate(&response), ws.parse_pull(&response)]
            .into_iter()
            .flatten()
        {
            let mut n = 0;
            for item in batch.items() {
                n += 1;
                if item.is_err() {
                    break;
                }
            }
            assert!(n <= batch.len());
        }
        let _ = ws.parse_get(&response);
        let _ = ws.parse_put(&response);
        let _ = ws.parse_create(&response);
        let _ = ws.parse_delete(&response);
        let _ = ws.parse_release(&response);
        let _ = ws.parse_invoke("SMS_Collection", "AddMembershipRule", &response);

        let mut e = Enumeration::wql(&ws, "SELECT * FROM SMS_R_System").expect("a valid query");
        let mut round = 0u8;
        while let Ok(Some(_request)) = e.next_request(&ws, &MessageId::from_bytes([round; 16])) {
            round += 1;
            if round > 4 || e.handle_response(&ws, &response).is_err() {
                break;
            }
        }
    }

    let Ok(request) = server::parse_request(data, &Limits::default()) else {
        return;
    };
    let id = MessageId::from_bytes([9; 16]);
    let fault = server::invalid_selectors();
    if let Ok(answer) = server::fault_response(Some(&request.message_id), &id, &fault) {
        let response = http::Response::builder()
            .status(500)
            .body(answer.body().as_slice())
            .expect("a valid status");
        match ws.parse_get(&response) {
            Err(Error::Fault(got)) => assert_eq!(*got, fault),
            other => panic!("our fault did not read back: {other:?}"),
        }
    }
    if let (server::Operation::Put | server::Operation::Create, Some(input)) =
        (request.operation, &request.input)
    {
        if let Ok(again) = ws.put(&input.class, &[("Key", "1")], input, &id) {
            let reread = server::parse_request(again.body(), &Limits::default())
                .expect("our own Put reads back");
            let got: &Instance = reread.input.as_ref().expect("a Put has an instance");
            assert_eq!(got, input, "the instance changed on the way through");
        }
    }
});
