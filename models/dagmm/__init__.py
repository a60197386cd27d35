"""DAGMM (Zong et al., ICLR 2018), the OoD baseline of the GWAE paper, in the paper's and Zong's forms."""
