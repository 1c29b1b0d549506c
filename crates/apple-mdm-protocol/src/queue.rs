//! The command-queue rules of the MDM protocol, as a pure state machine.
//!
//! Each enrollment (the device channel, and each user channel, separately)
//! has its own queue. The device drives it:
//!
//! * `Idle` asks for the next command. Commands the device answered `NotNow`
//!   since the previous `Idle` become eligible again.
//! * `Acknowledged`, `Error` and `CommandFormatError` complete the command
//!   they name; the answer to the report is the next eligible command.
//! * `NotNow` sets the command aside until the next `Idle`; the answer is the
//!   next eligible command other than those set aside.
//! * A command that was sent but never answered stays at the head of the
//!   queue: it is sent again on the next `Idle` (a device that crashed or
//!   lost its connection mid-command asks again).
//!
//! The next command is the eligible one with the highest priority, and among
//! equal priorities the oldest. A report naming a command that is not in the
//! queue is an error value ([`QueueError::UnknownCommand`]): a stale or
//! forged report never completes something else.
//!
//! The persistent store implements the same rules in SQL; this type is the
//! reference it is tested against and what in-memory deployments use.

use std::collections::HashMap;

use crate::identity::EnrollmentId;
use crate::report::Status;

/// Why a queue operation was refused.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// A command with this UUID is already queued for the enrollment.
    #[error("command {0} is already queued")]
    Duplicate(String),
    /// A report named a command that is not queued for this enrollment.
    #[error("no queued command {0} for this enrollment")]
    UnknownCommand(String),
    /// A non-Idle report without a command UUID.
    #[error("a {0} report must name its command")]
    MissingCommandUuid(Status),
}

/// Where a queued command stands.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum CommandState {
    /// Waiting; sent next when it is first in line.
    Pending,
    /// Sent to the device, no answer yet.
    Sent,
    /// The device answered `NotNow`; eligible again after the next `Idle`.
    NotNow,
}

/// A command waiting in a queue.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct QueuedCommand {
    /// `CommandUUID`.
    pub uuid: String,
    /// Higher goes first.
    pub priority: i32,
    /// When it was queued, in the caller's clock (milliseconds, say): older
    /// goes first among equal priorities.
    pub enqueued_at: u64,
    /// Where it stands.
    pub state: CommandState,
    /// How many times it has been handed to the device.
    pub deliveries: u32,
    /// How many times the device answered `NotNow`.
    pub not_now_count: u32,
    seq: u64,
}

/// What the server answers a report with.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Next {
    /// Send this command (by UUID).
    Command(String),
    /// Nothing to send: an empty 200 response.
    Empty,
}

/// What a report did to the queue.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Outcome {
    /// The command the report completed, with the final status.
    pub completed: Option<(QueuedCommand, Status)>,
    /// What to send now.
    pub next: Next,
}

/// One enrollment's command queue.
#[derive(Clone, Debug, Default)]
pub struct CommandQueue {
    commands: Vec<QueuedCommand>,
    seq: u64,
}

impl CommandQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of commands not yet completed.
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// Whether no command waits.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// The commands in the order they would be sent (ignoring `NotNow`).
    pub fn iter(&self) -> impl Iterator<Item = &QueuedCommand> {
        let mut v: Vec<&QueuedCommand> = self.commands.iter().collect();
        v.sort_by_key(|c| order_key(c));
        v.into_iter()
    }

    /// The queued command `uuid`.
    pub fn get(&self, uuid: &str) -> Option<&QueuedCommand> {
        self.commands.iter().find(|c| c.uuid == uuid)
    }

    /// Queues a command.
    pub fn enqueue(
        &mut self,
        uuid: impl Into<String>,
        priority: i32,
        enqueued_at: u64,
    ) -> Result<(), QueueError> {
        let uuid = uuid.into();
        if self.get(&uuid).is_some() {
            return Err(QueueError::Duplicate(uuid));
        }
        self.seq += 1;
        self.commands.push(QueuedCommand {
            uuid,
            priority,
            enqueued_at,
            state: CommandState::Pending,
            deliveries: 0,
            not_now_count: 0,
            seq: self.seq,
        });
        Ok(())
    }

    /// Removes a command that has not completed (an administrator cancelled
    /// it). Returns it, or `None` if it was not queued.
    pub fn cancel(&mut self, uuid: &str) -> Option<QueuedCommand> {
        let i = self.commands.iter().position(|c| c.uuid == uuid)?;
        Some(self.commands.remove(i))
    }

    /// Applies a report (`status`, naming `command_uuid` unless `Idle`) and
    /// says what to send next. The command handed out is marked `Sent`.
    ///
    /// An `Idle` that also names a command is treated as `Idle`; the name is
    /// ignored, as devices do not send one.
    pub fn handle_report(
        &mut self,
        status: Status,
        command_uuid: Option<&str>,
    ) -> Result<Outcome, QueueError> {
        let mut completed = None;
        match status {
            Status::Idle => {
                for c in &mut self.commands {
                    if c.state == CommandState::NotNow {
                        c.state = CommandState::Pending;
                    }
                }
            }
            Status::NotNow => {
                let uuid = command_uuid.ok_or(QueueError::MissingCommandUuid(status))?;
                let c = self
                    .commands
                    .iter_mut()
                    .find(|c| c.uuid == uuid)
                    .ok_or_else(|| QueueError::UnknownCommand(uuid.to_owned()))?;
                c.state = CommandState::NotNow;
                c.not_now_count = c.not_now_count.saturating_add(1);
            }
            Status::Acknowledged | Status::Error | Status::CommandFormatError => {
                let uuid = command_uuid.ok_or(QueueError::MissingCommandUuid(status))?;
                let c = self
                    .cancel(uuid)
                    .ok_or_else(|| QueueError::UnknownCommand(uuid.to_owned()))?;
                completed = Some((c, status));
            }
        }
        let next = match self.next_index() {
            Some(i) => {
                let c = &mut self.commands[i];
                c.state = CommandState::Sent;
                c.deliveries = c.deliveries.saturating_add(1);
                Next::Command(c.uuid.clone())
            }
            None => Next::Empty,
        };
        Ok(Outcome { completed, next })
    }

    fn next_index(&self) -> Option<usize> {
        self.commands
            .iter()
            .enumerate()
            .filter(|(_, c)| c.state != CommandState::NotNow)
            .min_by_key(|(_, c)| order_key(c))
            .map(|(i, _)| i)
    }
}

fn order_key(c: &QueuedCommand) -> (std::cmp::Reverse<i32>, u64, u64) {
    (std::cmp::Reverse(c.priority), c.enqueued_at, c.seq)
}

/// The queues of many enrollments; device and user channels are separate
/// queues because their [`EnrollmentId`]s differ.
#[derive(Clone, Debug, Default)]
pub struct QueueSet {
    queues: HashMap<EnrollmentId, CommandQueue>,
}

impl QueueSet {
    /// No queues.
    pub fn new() -> Self {
        Self::default()
    }

    /// The queue of `id`, if it has ever had a command.
    pub fn queue(&self, id: &EnrollmentId) -> Option<&CommandQueue> {
        self.queues.get(id)
    }

    /// Queues a command for `id`.
    pub fn enqueue(
        &mut self,
        id: &EnrollmentId,
        uuid: impl Into<String>,
        priority: i32,
        enqueued_at: u64,
    ) -> Result<(), QueueError> {
        self.queues
            .entry(id.clone())
            .or_default()
            .enqueue(uuid, priority, enqueued_at)
    }

    /// Cancels a command of `id`.
    pub fn cancel(&mut self, id: &EnrollmentId, uuid: &str) -> Option<QueuedCommand> {
        self.queues.get_mut(id)?.cancel(uuid)
    }

    /// Applies a report from `id`; see [`CommandQueue::handle_report`]. An
    /// enrollment with no queue answers `Idle` with [`Next::Empty`] and any
    /// other report with [`QueueError::UnknownCommand`].
    pub fn handle_report(
        &mut self,
        id: &EnrollmentId,
        status: Status,
        command_uuid: Option<&str>,
    ) -> Result<Outcome, QueueError> {
        match self.queues.get_mut(id) {
            Some(q) => q.handle_report(status, command_uuid),
            None => CommandQueue::new().handle_report(status, command_uuid),
        }
    }
}

#[cfg(test)]
mod tests;
