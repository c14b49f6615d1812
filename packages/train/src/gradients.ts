// tfjs-core registers gradient functions only through this deep ESM import (it is not part of the Node
// bundle that `@tensorflow/tfjs-core` resolves to), so the build inlines it; see tsup.config.ts.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
