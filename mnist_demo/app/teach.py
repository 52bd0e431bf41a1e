"""Short explanations shown where people meet each idea (collapsed accordions in the UI). Plain Markdown."""

LOSS = """
**The loss** is one number saying how wrong the model is on a batch. Here it is the *cross-entropy*: the
model gives each digit a probability, and the loss is `-log(probability of the right digit)`, averaged over
the batch. A model that guesses at random (1 in 10) scores `-log(0.1) = 2.30` - the first line of the log.
A confident, correct model scores near 0. Training nudges every weight a little in the direction that
lowers the loss (the *gradient*). The curve is noisy because each point is one batch, not the whole set.
"""

EPOCH_BATCH = """
**A batch** is a handful of training images (64 in the tutorial) processed together: one forward pass,
one loss, one update of the weights (*one step*). **An epoch** is one pass over all 60,000 training
images: 60000 / 64 = 938 steps. The log's `[ 6400/60000]` counts images seen in this epoch.
After each epoch the model is tested on the 10,000 *test* images it never trains on: that is the
"Test Error" block and the accuracy curve (the light points in between use a fixed sample of 1,000
test images, so you can watch it learn during the epoch).
"""

LEARNING_RATE = """
**The learning rate** is the size of each step: new weight = weight - learning rate x gradient.
Too small and the loss creeps down (the tutorial's SGD at 0.001 reaches only ~25-50% after one epoch);
too large and it jumps over the valley and can blow up to NaN ("training diverged": try 10x lower).
Adam adapts the step per weight, which is why the *fast* preset learns in one epoch. The *one-cycle*
schedule warms the rate up, then anneals it to almost zero for the final, careful steps.
"""

FAST_PRESET = """
**How the fast preset gets to 99% so quickly.** Four choices, each measured on this project's 2-core CPU:
a *convolutional* net, which sees strokes and corners instead of 784 unrelated pixels; a *small* one
(16-32-64 channels, pooling before batch norm), so each image costs little; Adam with a one-cycle schedule,
so one pass over the data is enough; and *bfloat16 mixed precision* where the hardware computes it natively
(Intel AMX, NVIDIA tensor cores): the forward pass runs in 16-bit, while the weights and their updates stay
32-bit. It reaches 99% in less time than one epoch of the tutorial's loop takes.
"""

FINAL_RELU = """
**Why the tutorial model's last ReLU hurts.** The tutorial ends its network with `nn.ReLU()` after the
last `Linear`, so every output ("logit") is clipped at 0. Cross-entropy needs the wrong digits' logits to
go *below* the right one's; clipped at 0, a wrong digit can only tie, and a unit that goes negative gets no
gradient at all ("dead"). Learning is slow and can stall. The `mlp` model is the same network without that
ReLU (and with standardised pixels): same size, much better. Compare them with the *tutorial* preset.
"""

PREPROCESSING = """
**What preprocessing does to your drawing.** MNIST digits are white ink on black, 28x28 pixels, the
digit scaled to fit 20x20 and centred by its *centre of mass*. Your drawing is turned into exactly that:
find the ink (dark strokes on a light page, or strokes in the alpha channel), crop to it, thicken strokes
that are too thin, shrink to 20 px on the longer side, and paste it centred into 28x28. The small image
on the right is what the model actually sees. A digit drawn small in a corner reads as well as a large one.
"""

CPU_VS_CUDA = """
**CPU vs CUDA.** A training step costs a fixed overhead (launching work, Python, synchronisation) plus
arithmetic that grows with the batch. On a CPU, small batches are overhead-bound and large ones
arithmetic-bound. A GPU has far more arithmetic units, but each step pays kernel-launch and
synchronisation costs, so it wins only once batches are big enough. Copying each batch from host memory
to the GPU also costs time, which is why this project keeps the whole data set on the device.
The timings: median of repeated runs after warm-up, the device synchronised before each clock read.
"""

SHARING = """
**Sharing this demo.** Each visitor's model, log, curves and Draw-tab choice are their own. Trainings
and benchmarks share a few slots; the rest wait in line (you see your place), and a full line says
"busy, try again in a minute". Closing the tab or pressing Stop ends your run within a moment.
The shipped model cannot be overwritten or deleted; you can delete only checkpoints you saved.
"""

COMPARE_RUNS = """
**How to compare runs fairly.** Change *one* thing at a time (the learning rate, or the batch size) and keep
the rest, the seed included: every run here starts from the same random weights and sees the images in the
same order (seed 0), so the one change is all that differs. Then choose the x axis for the question:
*samples seen* (training images) compares how much each run learns from the same data, fair between batch
sizes; *steps* counts weight updates, which favours small batches (they take many more); *seconds* is
what you wait, and depends on the machine and on what else it is doing. A single run is noisy: a difference
of a few tenths of a percent may vanish with another seed.
"""

FINETUNE = """
**What fine-tuning does.** It takes the model you are drawing with and trains a copy of it a little more, on
your own drawings, so it learns your handwriting: a few hundred small steps with a low learning rate, each
batch a quarter your drawings (shifted, turned and thickened at random, so it learns the shape, not the exact
pixels) and three quarters MNIST's own training images. Those MNIST images are *replay*: trained on your
drawings alone, a network soon forgets what it knew ("catastrophic forgetting") and starts reading every
digit as one of yours.

**Held-out drawings.** A model can learn a handful of drawings by heart, so "right on the drawings it trained
on" says little. With at least 5 drawings of each digit you drew, a fifth of them is held aside, never
trained on, and the before/after figures are measured on those: that is how well it reads *new* drawings in
your style. With fewer, the figures are on the training drawings, and the report says so.

**Why MNIST accuracy can drop.** Every step spent on your style moves weights that also served MNIST's
styles; replay keeps the loss small (a few hundredths of a percentage point to a few tenths) but rarely
zero. If your drawings look like another digit to MNIST (a 1 with a long flag is MNIST's 7), teaching it your
way necessarily costs some of MNIST's.
"""

CONFUSION = """
**Reading a confusion matrix.** Each of the 10,000 test images lands in one cell: its row is the digit it
really is, its column the digit the model read. The diagonal (green) counts right answers; every other cell
(red) is a kind of mistake, and the deeper the red, the more common it is. Look for pairs: 4 and 9, 3 and 5, 7
and 1 are classic confusions because their shapes really are close. Click a cell to see its images: many
mistakes are digits a person would hesitate over too. The percentage under each thumbnail is how sure the
model was of its (wrong) answer; a confident mistake is worth a look, as it can be a mislabelled image.
"""

SALIENCY = """
**Which pixels pushed the answer.** For each pixel of the 28x28 input: how much the model's score for its
answer would change if that pixel's ink changed a little (the *gradient*), times the ink itself (*gradient x
input*). Red ink pushed the model towards its answer, blue ink pushed it away; blank paper scores zero. It
takes one backward pass through the network, the same computation training uses to learn, aimed at the
picture instead of the weights. It explains this one answer, not the whole model.
"""

FIRST_LAYER = """
**What the first layer makes of it.** A convolutional model slides small filters (5x5 pixels here) over the
image; each filter makes a *feature map*, bright where it found its pattern (a stroke edge at some angle, an
end, a curve). Shown: the 8 maps that responded most to your drawing, as the next layer receives them. An MLP
has no filters: each first-layer unit weighs all 784 pixels at once. Shown: the 8 units your drawing excited
most, each as its 784 weights laid out as 28x28 (red: ink there excites it, blue: ink there inhibits it).
"""
