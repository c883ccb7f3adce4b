//! Redis Pub/Sub: the pipelined PUBLISH batches and the pattern subscription
//! (PSUBSCRIBE on a dedicated connection).

use redis::Pipeline;
use redis::aio::PubSub;

use super::Connector;

/// One `PUBLISH channel payload` per message (each with its reply: the receivers).
pub fn publish_pipeline<'a>(messages: impl IntoIterator<Item = (&'a str, &'a str)>) -> Pipeline {
    let mut pipe = redis::pipe();
    for (channel, payload) in messages {
        pipe.cmd("PUBLISH").arg(channel).arg(payload);
    }
    pipe
}

impl Connector {
    /// Opens a dedicated Pub/Sub connection and subscribes it to `pattern`. The
    /// connection has no response timeout (it waits for messages indefinitely):
    /// the caller bounds this call and keeps the subscription alive.
    ///
    /// # Errors
    ///
    /// The redis crate's error when the connection or the subscription fails.
    pub async fn psubscribe(&self, pattern: &str) -> redis::RedisResult<PubSub> {
        let mut pubsub = self.pubsub().await?;
        pubsub.psubscribe(pattern).await?;
        Ok(pubsub)
    }
}

#[cfg(test)]
mod tests {
    use super::super::pipe_args;
    use super::*;

    #[test]
    fn publish_arguments() {
        assert_eq!(
            pipe_args(&publish_pipeline([("c1", "p1"), ("c2", "p2")])),
            [["PUBLISH", "c1", "p1"], ["PUBLISH", "c2", "p2"]]
        );
    }
}
