import { Command } from 'commander';
import { version } from '../../package.json';
import { EXIT, reportError } from './output';

type Action = (...args: never[]) => Promise<number | undefined>;

/** Subcommands load their module (and any tensor backend) only when run. */
function lazy(load: () => Promise<{ run: Action }>) {
  return async (...args: unknown[]) => {
    try {
      const { run } = await load();
      process.exitCode =
        (await (run as (...a: unknown[]) => Promise<number | undefined>)(...args)) ?? EXIT.ok;
    } catch (e) {
      process.exitCode = reportError(e);
    }
    // wasm worker threads would keep the process alive.
    process.exit(process.exitCode);
  };
}

const backendHelp = 'tensor backend: auto, wasm, cpu, tensorflow (tfjs-node), gpu (tfjs-node-gpu, required)';

export function buildProgram(): Command {
  const program = new Command('dirac')
    .description('Train, fold and run DiracNets')
    .version(version, '-V, --version', 'print the version of @dirac/train')
    .showHelpAfterError()
    .configureOutput({ outputError: (s, write) => write(`dirac: ${s}`) })
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT.usage));

  program
    .command('info')
    .description('parameter counts, FLOPs and the layer table of a network')
    .argument('<name>', 'model name, e.g. diracnet-34-1, diracnet-18, wrn-28-10')
    .option('--dataset <name>', 'cifar10 | cifar100 | imagenet')
    .option('--width <k>', 'width multiplier (ImageNet family)')
    .option('--json', 'print JSON')
    .action(lazy(() => import('./commands/info')));

  program
    .command('fold')
    .description('fold a training-form model directory into its deployable form, verifying the result')
    .argument('<dir>', 'training-form model directory')
    .requiredOption('--out <dir>', 'output folder')
    .option('--tolerance <rel>', 'maximum relative error allowed', '1e-5')
    .option('--fp16', 'also write a float16 weights file')
    .option('--backend <name>', backendHelp, 'auto')
    .option('--json', 'print the report as JSON')
    .action(lazy(() => import('./commands/fold')));

  program
    .command('export')
    .description('export a folded model directory as ONNX (input NCHW) or a TF.js graph model (input NHWC)')
    .argument('<dir>', 'folded model directory (run dirac fold first)')
    .requiredOption('--format <name>', 'onnx | tfjs')
    .requiredOption('--out <path>', 'output file (onnx) or folder (tfjs: model.json + weight shards)')
    .option('--opset <n>', 'ONNX opset, 13 to 21 (default 17)')
    .option('--shard-mb <n>', 'tfjs: largest weight shard in MiB (default: one shard)')
    .option(
      '--quantize <type>',
      'onnx: fp16 (float16 weights, float32 compute) | int8 (QDQ: int8 per-channel weights, uint8 activations; needs --calibration)',
    )
    .option(
      '--calibration <path>',
      'int8: training images to calibrate on (CIFAR folder or .tar.gz, or an image folder)',
    )
    .option('--calibration-size <n>', 'int8: how many training images (default 256)')
    .option('--calibration-method <name>', 'int8: minmax | percentile (default minmax)')
    .option('--percentile <p>', 'int8 with --calibration-method percentile (default 99.99)')
    .option(
      '--keep-float <names>',
      'int8: conv/linear layers left in float32, comma-separated (e.g. conv,fc)',
    )
    .option(
      '--no-split-identity',
      'int8: quantize Dirac convs whole instead of as a quantized filter plus a float identity path',
    )
    .option('--dataset <name>', 'int8: dataset of --calibration: cifar10 | cifar100 | imagefolder', 'cifar10')
    .option('--json', 'print a JSON summary')
    .action(lazy(() => import('./commands/export')));

  program
    .command('predict')
    .description('logits for a .npy batch (float32 NCHW, already normalized)')
    .requiredOption('--model <dir>', 'model directory (either form)')
    .requiredOption('--input <file>', 'input .npy, float32 [N, C, H, W]')
    .requiredOption('--output <file>', 'output .npy, float32 [N, classes]')
    .option('--backend <name>', backendHelp, 'auto')
    .action(lazy(() => import('./commands/predict')));

  program
    .command('import-torch')
    .description(
      "convert an upstream PyTorch checkpoint (train.py's or a folded ImageNet state_dict) without Python",
    )
    .argument('<checkpoint>', '.pth / .pt7 file, zip or legacy format')
    .requiredOption('--out <dir>', 'output model directory')
    .option('--json', 'print a JSON summary')
    .action(lazy(() => import('./commands/import-torch')));

  program
    .command('train')
    .description('train a network on CIFAR-10/100 (folder or .tar.gz), resumable')
    .option('--model <name>', 'network name', 'diracnet-34-1')
    .option('--dataset <name>', 'cifar10 | cifar100 | imagefolder (a folder with train/ and val/)', 'cifar10')
    .option('--data <path>', 'dataset folder or .tar.gz (imagefolder: the folder holding train/ and val/)')
    .option('--out <dir>', 'run directory')
    .option('--resume <dir>', 'continue the run in this directory')
    .option('--init <dir>', 'start from the weights of a finished run (new optimizer and schedule)')
    // A new run's defaults (DEFAULT_CONFIG, checked by a test); a resumed run keeps its own settings.
    .option('--epochs <n>', 'epochs (new runs: 30)')
    .option('--batch-size <n>', 'batch size (new runs: 128)')
    .option('--lr <x>', 'peak learning rate (new runs: 0.1)')
    .option('--schedule <name>', 'step | cosine | onecycle (new runs: onecycle)')
    .option('--weight-decay <x>', 'weight decay on weights with 2+ dimensions (new runs: 0.0005)')
    .option('--momentum <x>', 'SGD momentum (new runs: 0.9)')
    .option('--nesterov', 'Nesterov momentum (new runs: on)')
    .option('--no-nesterov', 'plain momentum')
    .option('--label-smoothing <x>', 'label smoothing (new runs: 0)')
    .option('--seed <n>', 'random seed (new runs: 0)')
    .option('--train-limit <n>', 'use only the first N training images')
    .option('--test-limit <n>', 'evaluate on the first N test images')
    .option('--checkpoint-every <steps>', 'also checkpoint every N steps')
    .option(
      '--grad-guard <factor>',
      "skip steps whose gradient norm is over <factor> times the last 200 steps' median; 0: only non-finite (new runs: 10)",
    )
    .option(
      '--winograd',
      'wasm: Winograd F(4x4,3x3) kernels for 3x3 convolutions (faster; see the engines guide)',
    )
    .option('--no-winograd', 'wasm: direct convolution kernels (the default)')
    .option('--backend <name>', backendHelp, 'auto')
    .option('--json', 'print JSON lines instead of progress')
    .action(lazy(() => import('./commands/train')));

  program
    .command('status')
    .description('where a training run stands: progress, last and best accuracy, time, time left')
    .argument('<run>', 'run directory of dirac train')
    .option('--json', 'print JSON')
    .action(lazy(() => import('./commands/status')));

  program
    .command('eval')
    .description('top-1/top-5 and loss of a model directory or an .onnx file on a dataset split')
    .requiredOption('--model <dir>', 'model directory (either form), or an .onnx file from dirac export')
    .requiredOption(
      '--data <path>',
      'dataset folder or .tar.gz (imagefolder: the folder holding train/ and val/)',
    )
    .option('--dataset <name>', 'cifar10 | cifar100 | imagefolder', 'cifar10')
    .option('--split <name>', 'train | test | val', 'test')
    .option('--limit <n>', 'first N images only')
    .option('--batch-size <n>', 'batch size', '100')
    .option('--backend <name>', backendHelp, 'auto')
    .option(
      '--engine <name>',
      'tfjs | onnxruntime (onnxruntime-node; the default for .onnx files; model directories are exported in memory)',
    )
    .option('--record', 'write the result into the .onnx file (metadata "metrics")')
    .option('--json', 'print JSON')
    .action(lazy(() => import('./commands/eval')));

  program
    .command('classify')
    .description('top classes of images with a zoo model or a folded model folder (default: a bundled photo)')
    .argument('[images...]', 'image files (JPEG, PNG, WebP, …); none: the bundled photo of a cat')
    .option(
      '--model <name>',
      'zoo name (e.g. cifar10/diracnet-34-1) or model folder (default: the zoo default)',
    )
    .option('--top <k>', 'classes to show per image', '5')
    .option('--fp16', 'use the float16 weights file')
    .option('--backend <name>', backendHelp, 'auto')
    .option('--json', 'print JSON')
    .action(lazy(() => import('./commands/classify')));

  const zoo = program.command('zoo').description('the model zoo');
  zoo
    .command('add')
    .description('publish a finished CIFAR run as a zoo entry: measure it on the test set, record provenance')
    .argument('<run>', 'run directory of dirac train (finished)')
    .requiredOption(
      '--data <path>',
      'the CIFAR folder or .tar.gz the run trained on (its test split is measured)',
    )
    .option('--zoo <dir>', 'zoo folder', 'zoo')
    .option('--name <name>', 'entry name <dataset>/<model> (default: from the run)')
    .option('--commit <sha>', "the trainer's git commit, for runs whose run.json predates recording it")
    .option('--note <text>', 'recorded in the provenance: what run.json cannot say about how the run went')
    .option(
      '--calibration-size <n>',
      'training images for the int8 variant (its activation ranges; 0: no int8 variant)',
      '256',
    )
    .option('--json', 'print JSON')
    .action(lazy(() => import('./commands/zoo-add')));
  zoo
    .command('import')
    .description("download (or read) upstream's folded ImageNet weights, check them and install them locally")
    .argument('<model>', 'diracnet-18 | diracnet-34')
    .option('--file <path>', "a local copy of upstream's .pth file (no download)")
    .option('--url <url>', 'download from a mirror (the sha256 prefix is still checked)')
    .option('--zoo <dir>', "zoo folder to install into (default: the user's zoo in the cache directory)")
    .option('--json', 'print JSON')
    .action(lazy(() => import('./commands/zoo-import')));
  zoo
    .command('index')
    .description("rebuild a zoo's index.json from its entry folders (sizes and sha256 recomputed)")
    .option('--zoo <dir>', "zoo folder (default: the user's zoo of converted models)")
    .option('--json', 'print JSON')
    .action(lazy(() => import('./commands/zoo-index')));

  const data = program.command('data').description('datasets');
  data
    .command('download')
    .description('download CIFAR-10/100 from the official site, checked and resumable')
    .argument('<dataset>', 'cifar10 | cifar100')
    .option('--out <dir>', 'folder to download into', '.')
    .option('--url <url>', 'override the download URL (a mirror)')
    .action(lazy(() => import('./commands/data-download')));

  return program;
}
