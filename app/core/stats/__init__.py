"""Statistics: rates with Wilson CIs, stratified paired effects, BH FDR, interactions, Bradley-Terry."""
