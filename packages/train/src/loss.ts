import * as tf from '@tensorflow/tfjs-core';

/** Mean softmax cross-entropy of logits [N, K] against integer labels [N], with optional label smoothing. */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor, smoothing = 0): tf.Scalar {
  return tf.tidy(() => {
    const k = logits.shape[1]!;
    const target = tf.oneHot(tf.cast(labels, 'int32'), k);
    const q = smoothing > 0 ? tf.add(tf.mul(target, 1 - smoothing), smoothing / k) : target;
    return tf.neg(tf.mean(tf.sum(tf.mul(q, tf.logSoftmax(logits)), 1))) as tf.Scalar;
  });
}
