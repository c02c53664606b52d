//! SSH to the hosts (crate `ssh2`): one session per host, owned by one thread.
