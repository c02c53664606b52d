# Starts a run's agent in its own session, so nothing sshd does to the
# login's process group reaches it. Template rendered by remote/mod.rs
# `agent_cmd`.
# Placeholders: @SCRIPT@ the agent's script (header, library, `lc_agent`).
# shellcheck shell=sh
exec setsid -w sh -c @SCRIPT@ labctl-agent
