//! Prints an admin UserSig for the reference server, for curl and other manual calls.
//!
//! `cargo run -q -p tim-server --example usersig [-- IDENTIFIER [EXPIRE_SECS]]`
//!
//! Reads `TIM_SDKAPPID` and `TIM_SECRET_KEY` like the server, falling back to its documented
//! development credentials. The UserSig goes to stdout only; nothing is logged.

use std::time::{SystemTime, UNIX_EPOCH};

use tim_model::usersig::{sign, SecretKey, DEFAULT_EXPIRE_SECS};
use tim_server::config::{DEV_ADMIN, DEV_SDKAPPID, DEV_SECRET_KEY};

fn main() {
    let mut args = std::env::args().skip(1);
    let identifier = args.next().unwrap_or_else(|| DEV_ADMIN.to_owned());
    let expire = args
        .next()
        .map(|s| {
            s.parse()
                .expect("EXPIRE_SECS must be a whole number of seconds")
        })
        .unwrap_or(DEFAULT_EXPIRE_SECS);
    let sdkappid = std::env::var("TIM_SDKAPPID")
        .ok()
        .map(|s| s.parse().expect("TIM_SDKAPPID must be a number"))
        .unwrap_or(DEV_SDKAPPID);
    let key = SecretKey::new(
        std::env::var("TIM_SECRET_KEY").unwrap_or_else(|_| DEV_SECRET_KEY.to_owned()),
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64;
    println!("{}", sign(sdkappid, &key, &identifier, expire, now));
}
