//! The run's clock on a host (`labctl-stamp --clock`): for each line read on
//! stdin, the host time `<epoch>.<ns>` on a line of stdout. The run's agent
//! starts one and reads it through two FIFOs with shell builtins, so a `send`
//! learns when its lines went out without starting a `date` process (a
//! millisecond or more on a Pi, once per send). Ends at end of input.

use std::io::{self, BufRead, Write};
use std::time::Duration;

use crate::stamp::now_minus;

/// Answers every request line of `input` with the time on `output`, flushed.
pub fn serve(input: impl BufRead, mut output: impl Write) -> io::Result<()> {
    for line in input.split(b'\n') {
        line?;
        writeln!(output, "{}", now_minus(Duration::ZERO))?;
        output.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_request_gets_one_time_line_and_end_of_input_ends_it() {
        let mut out = Vec::new();
        serve(&b"\n\nx\n"[..], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let times: Vec<f64> = text.lines().map(|l| l.parse().unwrap()).collect();
        assert_eq!(times.len(), 3, "{text}");
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{text}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!((now - times[2]).abs() < 60.0, "{text}");
        assert!(text
            .lines()
            .all(|l| l.split_once('.').unwrap().1.len() == 9));
    }
}
