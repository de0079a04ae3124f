//! `herald serve` in-process against the emulator, over real HTTP on loopback.

mod amend;
mod api;
mod as_user;
mod auth;
mod cluster;
mod conversations;
mod engine;
mod events;
mod helpers;
mod lifecycle;
mod local_time;
mod once;
mod preferences;
mod reads;
mod responses;
mod trust;
