use proptest::prelude::*;

use super::*;

fn next(q: &mut CommandQueue, s: Status, u: Option<&str>) -> Next {
    q.handle_report(s, u).unwrap().next
}

fn cmd(s: &str) -> Next {
    Next::Command(s.to_owned())
}

#[test]
fn priority_then_age() {
    let mut q = CommandQueue::new();
    q.enqueue("a", 0, 10).unwrap();
    q.enqueue("b", 5, 20).unwrap();
    q.enqueue("c", 5, 15).unwrap();
    q.enqueue("d", 0, 5).unwrap();
    assert_eq!(next(&mut q, Status::Idle, None), cmd("c"));
    assert_eq!(next(&mut q, Status::Acknowledged, Some("c")), cmd("b"));
    assert_eq!(next(&mut q, Status::Acknowledged, Some("b")), cmd("d"));
    assert_eq!(next(&mut q, Status::Error, Some("d")), cmd("a"));
    assert_eq!(
        next(&mut q, Status::CommandFormatError, Some("a")),
        Next::Empty
    );
    assert!(q.is_empty());
}

#[test]
fn not_now_sets_aside_until_idle() {
    let mut q = CommandQueue::new();
    q.enqueue("a", 0, 1).unwrap();
    q.enqueue("b", 0, 2).unwrap();
    assert_eq!(next(&mut q, Status::Idle, None), cmd("a"));
    assert_eq!(next(&mut q, Status::NotNow, Some("a")), cmd("b"));
    assert_eq!(q.get("a").unwrap().state, CommandState::NotNow);
    // b NotNow too: nothing left this session.
    assert_eq!(next(&mut q, Status::NotNow, Some("b")), Next::Empty);
    // The next Idle makes both eligible again, oldest first.
    assert_eq!(next(&mut q, Status::Idle, None), cmd("a"));
    assert_eq!(q.get("a").unwrap().deliveries, 2);
    assert_eq!(q.get("a").unwrap().not_now_count, 1);
    let out = q.handle_report(Status::Acknowledged, Some("a")).unwrap();
    assert_eq!(
        out.completed.as_ref().map(|(c, s)| (c.uuid.as_str(), *s)),
        Some(("a", Status::Acknowledged))
    );
    assert_eq!(out.next, cmd("b"));
}

#[test]
fn unanswered_command_is_resent_on_idle() {
    let mut q = CommandQueue::new();
    q.enqueue("a", 0, 1).unwrap();
    assert_eq!(next(&mut q, Status::Idle, None), cmd("a"));
    assert_eq!(q.get("a").unwrap().state, CommandState::Sent);
    assert_eq!(next(&mut q, Status::Idle, None), cmd("a"));
    assert_eq!(q.get("a").unwrap().deliveries, 2);
}

#[test]
fn errors_are_values() {
    let mut q = CommandQueue::new();
    q.enqueue("a", 0, 1).unwrap();
    assert_eq!(q.enqueue("a", 0, 2), Err(QueueError::Duplicate("a".into())));
    assert_eq!(
        q.handle_report(Status::Acknowledged, Some("zzz")),
        Err(QueueError::UnknownCommand("zzz".into()))
    );
    assert_eq!(
        q.handle_report(Status::NotNow, Some("zzz")),
        Err(QueueError::UnknownCommand("zzz".into()))
    );
    assert_eq!(
        q.handle_report(Status::Acknowledged, None),
        Err(QueueError::MissingCommandUuid(Status::Acknowledged))
    );
    // The failed reports changed nothing.
    assert_eq!(q.get("a").unwrap().state, CommandState::Pending);
    assert_eq!(q.cancel("a").map(|c| c.uuid), Some("a".into()));
    assert_eq!(next(&mut q, Status::Idle, None), Next::Empty);
}

#[test]
fn channels_are_separate_queues() {
    let dev = EnrollmentId::device("U1");
    let user = EnrollmentId {
        device: "U1".into(),
        user: Some("G1".into()),
    };
    let mut s = QueueSet::new();
    s.enqueue(&dev, "d1", 0, 1).unwrap();
    s.enqueue(&user, "u1", 0, 1).unwrap();
    assert_eq!(
        s.handle_report(&user, Status::Idle, None).unwrap().next,
        cmd("u1")
    );
    assert_eq!(
        s.handle_report(&dev, Status::Idle, None).unwrap().next,
        cmd("d1")
    );
    assert_eq!(
        s.handle_report(&dev, Status::Acknowledged, Some("u1")),
        Err(QueueError::UnknownCommand("u1".into()))
    );
    let other = EnrollmentId::device("U2");
    assert_eq!(
        s.handle_report(&other, Status::Idle, None).unwrap().next,
        Next::Empty
    );
}

/// What a device can do in the model.
#[derive(Clone, Debug)]
enum Op {
    Enqueue(i32),
    Idle,
    /// Answer the last command handed out with this status.
    Answer(u8),
    Cancel(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (-2i32..3).prop_map(Op::Enqueue),
        Just(Op::Idle),
        (0u8..4).prop_map(Op::Answer),
        (0usize..8).prop_map(Op::Cancel),
    ]
}

proptest! {
    /// Invariants over any sequence of device behaviour:
    /// every command handed out is queued and not set aside; it is the best
    /// eligible one by (priority desc, age); completed commands never come
    /// back; nothing is lost: queued = enqueued - completed - cancelled.
    #[test]
    fn queue_model(ops in proptest::collection::vec(op(), 1..80)) {
        let mut q = CommandQueue::new();
        let mut clock = 0u64;
        let mut n = 0usize;
        let mut last: Option<String> = None;
        let mut done: Vec<String> = Vec::new();
        let mut gone = 0usize;
        for op in ops {
            clock += 1;
            let result = match op {
                Op::Enqueue(p) => {
                    n += 1;
                    q.enqueue(format!("c{n}"), p, clock).unwrap();
                    continue;
                }
                Op::Cancel(i) => {
                    let uuid = format!("c{}", i + 1);
                    if q.cancel(&uuid).is_some() { gone += 1; }
                    last = None;
                    continue;
                }
                Op::Idle => q.handle_report(Status::Idle, None),
                Op::Answer(k) => {
                    let Some(u) = last.clone() else { continue };
                    let status = [Status::Acknowledged, Status::Error, Status::CommandFormatError, Status::NotNow][k as usize];
                    let r = q.handle_report(status, Some(&u));
                    if let (true, Ok(o)) = (status.is_final(), &r) {
                        prop_assert_eq!(&o.completed.as_ref().unwrap().0.uuid, &u);
                        done.push(u.clone());
                        gone += 1;
                    }
                    r
                }
            };
            let out = result.unwrap();
            match &out.next {
                Next::Command(u) => {
                    prop_assert!(!done.contains(u));
                    // It was the best eligible one in the state just before
                    // selection (after the report's own effect).
                    let c = q.get(u).unwrap();
                    prop_assert_eq!(c.state, CommandState::Sent);
                    let best = q.commands.iter()
                        .filter(|x| x.state != CommandState::NotNow || x.uuid == *u)
                        .min_by_key(|x| order_key(x)).unwrap();
                    prop_assert_eq!(&best.uuid, u);
                    last = Some(u.clone());
                }
                Next::Empty => {
                    prop_assert!(q.commands.iter().all(|c| c.state == CommandState::NotNow));
                    last = None;
                }
            }
            prop_assert_eq!(q.len(), n - gone);
        }
    }
}
