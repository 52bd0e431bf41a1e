"""Short explanations shown where people meet each idea (collapsed accordions in the UI). Plain Markdown.

The texts live in the locale files (`[teach]` in `locales/<lang>.toml`); each name here is the page's
reference to one, which the browser shows in the visitor's language (`i18n.t`) and switches live.
"""

from mnist_demo.app.i18n import t

LOSS = t("teach.loss")
EPOCH_BATCH = t("teach.epoch_batch")
LEARNING_RATE = t("teach.learning_rate")
FAST_PRESET = t("teach.fast_preset")
FINAL_RELU = t("teach.final_relu")
PREPROCESSING = t("teach.preprocessing")
CPU_VS_CUDA = t("teach.cpu_vs_cuda")
SHARING = t("teach.sharing")
COMPARE_RUNS = t("teach.compare_runs")
FINETUNE = t("teach.finetune")
CONFUSION = t("teach.confusion")
SALIENCY = t("teach.saliency")
FIRST_LAYER = t("teach.first_layer")
